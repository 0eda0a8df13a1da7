"""safetensors dtype codes by element-type name (no framework imported here).

torch's `str(dtype)` tail and numpy/ml_dtypes' `dtype.name` are spelled the same way, as in
safetensors' own Python layer. Sizes, sort order and validation of codes are the library's
(`znn_gpu::safetensors`).
"""

NAME_TO_CODE = {
    "bool": "BOOL",
    "int8": "I8",
    "uint8": "U8",
    "int16": "I16",
    "uint16": "U16",
    "int32": "I32",
    "uint32": "U32",
    "int64": "I64",
    "uint64": "U64",
    "float16": "F16",
    "float32": "F32",
    "float64": "F64",
    "bfloat16": "BF16",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2": "F8_E5M2",
    "float8_e5m2fnuz": "F8_E5M2FNUZ",
    "float8_e8m0fnu": "F8_E8M0",
    "float4_e2m1fn_x2": "F4",
    "complex64": "C64",
}
CODE_TO_NAME = {v: k for k, v in NAME_TO_CODE.items()}
