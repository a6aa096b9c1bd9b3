"""Ray Serve embedding deployment: OpenAI-style /embeddings on half a GPU per replica."""

from ray import serve
from starlette.requests import Request


@serve.deployment(ray_actor_options={"num_gpus": 0.5})
class Embedder:
    def __init__(self, model: str = "sentence-transformers/all-mpnet-base-v2") -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(model, device="cuda")

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.model.encode(texts).tolist()
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return {"object": "list", "data": data}


app = Embedder.bind()
