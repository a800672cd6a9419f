"""segmint.rules"""
