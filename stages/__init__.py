"""One small script per DVC stage; the domain code lives in the `stressvision` package."""
