"""segmint.ingest"""
