"""Microphone capture, voice activity detection and audio file decoding (voice issue)."""
