"""segmint.activation"""
