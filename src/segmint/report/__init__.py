"""segmint.report"""
