/* AMX bfloat16 log-softmax reads for deletion effects (bf16_logits.c), registered by wasm_sgemm.c. */
#ifndef VCM_BF16_LOGITS_H
#define VCM_BF16_LOGITS_H
#include <node_api.h>
#include <stdint.h>

int64_t packed_bf16_bytes(int64_t k, int64_t n);
int amx_bf16_ready(void);
napi_value packed_bf16_bytes_export(napi_env env, napi_callback_info info);
napi_value amx_bf16_export(napi_env env, napi_callback_info info);
napi_value pack_bf16_export(napi_env env, napi_callback_info info);
napi_value delta_log_softmax_export(napi_env env, napi_callback_info info);
#endif
