"""localserve"""
