// The MIT License (MIT)
//
// Copyright (c) 2021-2024 NVIDIA CORPORATION & AFFILIATES
//
// Permission is hereby granted, free of charge, to any person obtaining a copy
// of this software and associated documentation files (the "Software"), to deal
// in the Software without restriction, including without limitation the rights
// to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
// copies of the Software, and to permit persons to whom the Software is
// furnished to do so, subject to the following conditions:
//
// The above copyright notice and this permission notice shall be included in
// all copies or substantial portions of the Software.
//
// THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
// IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
// FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
// AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
// LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
// OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
// SOFTWARE.

#include "src/dali_model.h"

namespace triton { namespace backend { namespace dali {

std::atomic_int DaliModel::loaded_models_count_ = 0;

TRITONSERVER_Error* DaliModel::Create(TRITONBACKEND_Model* triton_model, DaliModel** state) {
  try {
    *state = new DaliModel(triton_model);
    return nullptr;
  } catch (TritonError& e) {
    return e.release();
  } catch (DALIException& e) {
    return TritonError::Unknown(make_string("Error while instantiating DALI pipeline: ", e.what()))
             .release();
  } catch (const std::exception& e) {
    return TritonError::Unknown(make_string("DALI Backend error: ", e.what())).release();
  }
}

}}}  // namespace triton::backend::dali
