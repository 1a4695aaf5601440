"""Reading a Triton ``config.pbtxt`` the way Triton does: protobuf text format against
``inference.ModelConfig``.

The message types are built here from the part of Triton's ``model_config.proto``
(triton-inference-server/common, ``protobuf/model_config.proto``) that a model configuration for
a SavedModel uses — names, field numbers, types and enums as that file declares them — so a
misspelt field, a wrong enum value or a value of the wrong type fails to parse, as it fails in
Triton. (No protobuf compiler is needed: the descriptors are written as data.)
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _INT32, _INT64, _UINT32, _BOOL = (
    _F.TYPE_STRING,
    _F.TYPE_INT32,
    _F.TYPE_INT64,
    _F.TYPE_UINT32,
    _F.TYPE_BOOL,
)
_ENUM, _MESSAGE = _F.TYPE_ENUM, _F.TYPE_MESSAGE
_REPEATED, _OPTIONAL = _F.LABEL_REPEATED, _F.LABEL_OPTIONAL

DATA_TYPES = (
    "TYPE_INVALID TYPE_BOOL TYPE_UINT8 TYPE_UINT16 TYPE_UINT32 TYPE_UINT64 TYPE_INT8 TYPE_INT16 "
    "TYPE_INT32 TYPE_INT64 TYPE_FP16 TYPE_FP32 TYPE_FP64 TYPE_STRING TYPE_BF16"
).split()


def _field(msg, name, number, kind, label=_OPTIONAL, type_name=None, oneof=None):
    f = msg.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof


def _enum(container, name, values):
    e = container.enum_type.add(name=name)
    for number, value in enumerate(values):
        e.value.add(name=value, number=number)


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(
        name="tfcompare_tests/model_config_slice.proto", package="inference", syntax="proto3"
    )
    _enum(fd, "DataType", DATA_TYPES)

    reshape = fd.message_type.add(name="ModelTensorReshape")
    _field(reshape, "shape", 1, _INT64, _REPEATED)

    inp = fd.message_type.add(name="ModelInput")
    _enum(inp, "Format", ["FORMAT_NONE", "FORMAT_NHWC", "FORMAT_NCHW"])
    _field(inp, "name", 1, _STRING)
    _field(inp, "data_type", 2, _ENUM, type_name=".inference.DataType")
    _field(inp, "format", 3, _ENUM, type_name=".inference.ModelInput.Format")
    _field(inp, "dims", 4, _INT64, _REPEATED)
    _field(inp, "reshape", 5, _MESSAGE, type_name=".inference.ModelTensorReshape")
    _field(inp, "is_shape_tensor", 6, _BOOL)
    _field(inp, "allow_ragged_batch", 7, _BOOL)
    _field(inp, "optional", 8, _BOOL)

    out = fd.message_type.add(name="ModelOutput")
    _field(out, "name", 1, _STRING)
    _field(out, "data_type", 2, _ENUM, type_name=".inference.DataType")
    _field(out, "dims", 3, _INT64, _REPEATED)
    _field(out, "label_filename", 4, _STRING)
    _field(out, "reshape", 5, _MESSAGE, type_name=".inference.ModelTensorReshape")
    _field(out, "is_shape_tensor", 6, _BOOL)

    group = fd.message_type.add(name="ModelInstanceGroup")
    _enum(group, "Kind", ["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"])
    _field(group, "name", 1, _STRING)
    _field(group, "count", 2, _INT32)
    _field(group, "gpus", 3, _INT32, _REPEATED)
    _field(group, "kind", 4, _ENUM, type_name=".inference.ModelInstanceGroup.Kind")

    policy = fd.message_type.add(name="ModelVersionPolicy")
    latest = policy.nested_type.add(name="Latest")
    _field(latest, "num_versions", 1, _UINT32)
    policy.nested_type.add(name="All")
    specific = policy.nested_type.add(name="Specific")
    _field(specific, "versions", 1, _INT64, _REPEATED)
    policy.oneof_decl.add(name="policy_choice")
    for name, number, type_name in (
        ("latest", 1, "Latest"),
        ("all", 2, "All"),
        ("specific", 3, "Specific"),
    ):
        _field(
            policy,
            name,
            number,
            _MESSAGE,
            type_name=f".inference.ModelVersionPolicy.{type_name}",
            oneof=0,
        )

    batching = fd.message_type.add(name="ModelDynamicBatching")
    _field(batching, "preferred_batch_size", 1, _INT32, _REPEATED)
    _field(batching, "max_queue_delay_microseconds", 2, _F.TYPE_UINT64)
    _field(batching, "preserve_ordering", 3, _BOOL)

    config = fd.message_type.add(name="ModelConfig")
    _field(config, "name", 1, _STRING)
    _field(config, "platform", 2, _STRING)
    _field(config, "version_policy", 3, _MESSAGE, type_name=".inference.ModelVersionPolicy")
    _field(config, "max_batch_size", 4, _INT32)
    _field(config, "input", 5, _MESSAGE, _REPEATED, ".inference.ModelInput")
    _field(config, "output", 6, _MESSAGE, _REPEATED, ".inference.ModelOutput")
    _field(config, "instance_group", 7, _MESSAGE, _REPEATED, ".inference.ModelInstanceGroup")
    _field(config, "dynamic_batching", 11, _MESSAGE, type_name=".inference.ModelDynamicBatching")
    _field(config, "backend", 17, _STRING)
    return fd


def _model_config_class():
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("inference.ModelConfig"))


ModelConfig = _model_config_class()


def parse(text: str):
    """``config.pbtxt`` text → an ``inference.ModelConfig`` message; raises
    ``google.protobuf.text_format.ParseError`` for what Triton would refuse to read."""
    return text_format.Parse(text, ModelConfig())


def data_type(value: int) -> str:
    return DATA_TYPES[value]
