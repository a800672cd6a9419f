"""segmint.features"""
