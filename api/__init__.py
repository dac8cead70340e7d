"""The FastAPI app: routers, schemas, auth, errors, metrics."""
