"""segmint.demo"""
