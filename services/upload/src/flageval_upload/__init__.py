"""FlagEval upload service: Upload tokens, chunked uploads from the flageval-serving CLI, bundle versions and their validation."""
