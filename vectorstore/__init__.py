"""Stores and retrieves chunks: Chroma, embeddings, search."""
