"""Cloud inference: the full models behind `POST /api/v1/infer/{model}`, micro-batched."""
