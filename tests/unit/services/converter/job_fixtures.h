#ifndef RWKV_TESTS_UNIT_SERVICES_CONVERTER_JOB_FIXTURES_H_
#define RWKV_TESTS_UNIT_SERVICES_CONVERTER_JOB_FIXTURES_H_

#include <string>

#include "absl/time/time.h"
#include "services/converter/job.h"

namespace rwkv::converter::testing {

// A QUANTIZE job of models/in.gguf into models/<id>.gguf, in `state`.
inline Job MakeJob(const std::string& id, JobState state) {
  Job job;
  job.id = id;
  job.spec.kind = JobKind::kQuantize;
  job.spec.input = "models/in.gguf";
  job.spec.output = "models/" + id + ".gguf";
  job.spec.quant_type = "Q8_0";
  job.state = state;
  job.created_at = absl::FromUnixSeconds(1700000000);
  return job;
}

}  // namespace rwkv::converter::testing

#endif  // RWKV_TESTS_UNIT_SERVICES_CONVERTER_JOB_FIXTURES_H_
