# Included after every project() of the DALI backend build (CMAKE_PROJECT_INCLUDE).
#
# dali_backend links CUDA::cudart and includes <cuda_runtime_api.h> even for CPU instance
# groups. Instead of a CUDA toolkit we give it the runtime from PyPI's wheels, unpacked by
# build.sh under DSW_CUDA_ROOT: nvidia/cuda_runtime (headers, libcudart.so.12) and
# nvidia/cuda_nvcc (only for its include/crt/ headers, which cuda_runtime_api.h includes) and
# nvidia/nvtx (the header-only NVTX 3).
# TRITON_ENABLE_GPU is OFF, so FindCUDAToolkit never runs and nothing needs nvcc or a GPU.
if(NOT TARGET CUDA::cudart)
  if(NOT DSW_CUDA_ROOT)
    message(FATAL_ERROR "DSW_CUDA_ROOT is not set: run deploy/dali_backend/build.sh")
  endif()
  set(_dsw_cudart "${DSW_CUDA_ROOT}/nvidia/cuda_runtime/lib/libcudart.so.12")
  if(NOT EXISTS "${_dsw_cudart}")
    message(FATAL_ERROR "${_dsw_cudart} is missing: the nvidia-cuda-runtime-cu12 wheel was not unpacked")
  endif()
  add_library(CUDA::cudart SHARED IMPORTED GLOBAL)
  set_target_properties(CUDA::cudart PROPERTIES
    IMPORTED_LOCATION "${_dsw_cudart}"
    INTERFACE_INCLUDE_DIRECTORIES
      "${DSW_CUDA_ROOT}/nvidia/cuda_runtime/include;${DSW_CUDA_ROOT}/nvidia/cuda_nvcc/include;${DSW_CUDA_ROOT}/nvidia/nvtx/include")
  set(CUDAToolkit_VERSION_MAJOR 12 CACHE STRING "CUDA major version of the wheels" FORCE)
endif()
