"""genai-bench: argv, process, result parsing."""
