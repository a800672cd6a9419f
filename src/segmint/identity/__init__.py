"""segmint.identity"""
