"""Metric helpers shared by Isthmus' Prometheus endpoints."""
