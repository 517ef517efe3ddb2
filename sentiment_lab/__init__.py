"""Sentiment Lab: fine-tune transformer sentiment classifiers and compare fine-tuning methods."""
