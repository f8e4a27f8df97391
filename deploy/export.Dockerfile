# The image of docker-compose.yml's export-classifier (deploy/export_classifier.py, on the CPU):
# the official PyTorch image (torch 2.5.1, torchvision 0.20.1) plus
#   onnx         torch.onnx.export's TorchScript exporter imports it (torch 2.5 fails with
#                "Module onnx is not installed!" without it; the official image does not have it)
#   onnxruntime  the export compares its ONNX file with PyTorch before Triton ever loads it
# Built by `docker compose up` (deploy/ is the context; the script itself is mounted, not copied).
ARG PYTORCH_IMAGE=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
FROM ${PYTORCH_IMAGE}
RUN pip install --no-cache-dir onnx==1.17.0 onnxruntime==1.20.1 \
 && python -c "import onnx, onnxruntime, torch, torchvision"
