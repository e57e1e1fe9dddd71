"""Cloud inference: the full models behind the infer route (contract.http.INFER), batched."""
