"""The prediction path: the champion cache, request validation (records -> columns), the
predictor and the capture of what was served. No pandas or scikit-learn (cold start)."""
