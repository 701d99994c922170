/* The softmax's mean of an output layer's columns in one read of the layer (softmax_mean.c), registered by wasm_sgemm.c. */
#ifndef VCM_SOFTMAX_MEAN_H
#define VCM_SOFTMAX_MEAN_H
#include <node_api.h>

napi_value softmax_mean_export(napi_env env, napi_callback_info info);
#endif
