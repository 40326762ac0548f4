"""The floor `make bench-web` compares against: FastAPI with one trivial endpoint, no middleware."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, bool]:
    return {"ok": True}
