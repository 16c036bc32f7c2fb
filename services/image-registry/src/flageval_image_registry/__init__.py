"""FlagEval image-registry service: Preset images, custom image imports, Dockerfile checks, admin review."""
