// Conversion between the rwkv.v1 wire messages and the scheduler's domain types, with every
// limit of inference.proto checked. The only place worker code reads GenerateRequest fields.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "rwkv/v1/common.pb.h"
#include "rwkv/v1/inference.pb.h"
#include "services/worker/model_host.h"
#include "services/worker/request.h"

namespace rwkv::worker {

inline constexpr uint32_t kDefaultMaxTokens = 256;
inline constexpr uint32_t kMaxMaxTokens = 65536;
inline constexpr size_t kMaxPromptBytes = 4u << 20;
inline constexpr size_t kMaxPromptTokens = 1u << 20;
inline constexpr size_t kMaxStopTokenIds = 64;
inline constexpr size_t kMaxIdBytes = 128;

// "cpu" -> BACKEND_CPU, "cuda" -> BACKEND_CUDA, "vulkan" -> BACKEND_VULKAN.
rwkv::v1::Backend BackendFromName(const std::string& name);

// Validates `request` against the served model (host must be ready) and converts it.
// Sampling style: llama.cpp's chain (as `rwkv generate`), or RWKV's when penalty_decay is
// set. Errors: InvalidArgument naming the field, NotFound for another model or an unknown
// state, Unavailable when the placement excludes this worker.
absl::StatusOr<GenerationRequest> ConvertGenerateRequest(const rwkv::v1::GenerateRequest& request,
                                                         ModelHost& host);

rwkv::v1::FinishReason ToFinishReason(Outcome outcome);
void FillFinalInfo(const GenerationResult& result, rwkv::v1::FinalInfo& final);
void FillModelInfo(const ModelHost& host, rwkv::v1::ModelInfo& info);

}  // namespace rwkv::worker
