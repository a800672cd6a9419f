"""segmint.server"""
