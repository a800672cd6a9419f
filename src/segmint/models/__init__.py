"""segmint.models"""
