/*
 * fuzz_oip_infer.c - libFuzzer target for mlreg-node's Open Inference
 * Protocol codec (node/oip.c): an infer request body from anyone who can
 * reach the node, checked against a declared input.
 *
 * The first byte picks the declared input (datatype and shape), the rest is
 * the body.  A request the codec accepts must hold exactly rows x features
 * values; the answer written for it must be valid JSON that parses back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "node/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *types[] = {"FP32", "FP64", "INT32", "INT64", "BOOL"};
	node_spec spec;
	node_infer_req req;
	uint8_t pick;
	if (size < 1)
		return 0;
	pick = data[0];
	memset(&spec, 0, sizeof(spec));
	spec.format = "xgboost";
	spec.input.name = "input";
	spec.input.datatype = (char *)types[pick % 5];
	spec.input.dtype = node_dtype_parse(spec.input.datatype);
	spec.input.dims = 2;
	spec.input.shape[0] = (pick & 0x08) ? 2 : -1;
	spec.input.shape[1] = 1 + (pick >> 4) % 4;
	spec.output.name = "output";
	spec.output.datatype = "FP32";
	spec.output.dims = 1;
	spec.output.shape[0] = -1;
	if (node_oip_parse((const char *)data + 1, size - 1, &spec, 64, &req) == 0) {
		node_output out = {0};
		util_buf b;
		cJSON *back = NULL;
		if (req.rows < 1 || req.rows > 64 || req.cols != node_spec_features(&spec))
			abort();
		out.n = req.rows;
		out.dims = 1;
		out.shape[0] = (int64_t)req.rows;
		out.data = req.x; /* echo the first column's worth of values */
		util_buf_init(&b, (size_t)1 << 24);
		if (node_oip_answer(&b, "m", "1", req.id, &spec, &out) == 0 &&
		    util_json_parse(b.ptr, b.len, UTIL_JSON_MAX_DEPTH, &back) != 0)
			abort();
		cJSON_Delete(back);
		util_buf_release(&b);
		node_infer_req_release(&req);
	}
	return 0;
}
