"""Images: presets, custom image import requests, their Dockerfile findings and admin review."""
