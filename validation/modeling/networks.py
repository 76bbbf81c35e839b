"""Build MONAI networks by name from an allow-list (never by evaluating text).

Each allowed network declares the task it serves and the names of its input-channel and
output-size arguments, so that a spec's ``input.channels`` and ``classes`` can be checked
against the network's arguments before any weights are touched.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from validation.modeling.spec import NetworkSpec

__all__ = ["NETWORKS", "NetworkInfo", "build_network", "check_network_args"]


@dataclass(frozen=True)
class NetworkInfo:
    """How a MONAI network is called: its task and its channel/output argument names."""

    task: str
    in_arg: str
    out_arg: str


#: Networks a spec may name; everything else in ``monai.networks.nets`` is refused.
NETWORKS: dict[str, NetworkInfo] = {
    "DenseNet": NetworkInfo("classification", "in_channels", "out_channels"),
    "DenseNet121": NetworkInfo("classification", "in_channels", "out_channels"),
    "DenseNet169": NetworkInfo("classification", "in_channels", "out_channels"),
    "DenseNet201": NetworkInfo("classification", "in_channels", "out_channels"),
    "ResNet": NetworkInfo("classification", "n_input_channels", "num_classes"),
    "SEResNet50": NetworkInfo("classification", "in_channels", "num_classes"),
    "EfficientNetBN": NetworkInfo("classification", "in_channels", "num_classes"),
    "UNet": NetworkInfo("segmentation", "in_channels", "out_channels"),
    "BasicUNet": NetworkInfo("segmentation", "in_channels", "out_channels"),
    "AttentionUnet": NetworkInfo("segmentation", "in_channels", "out_channels"),
    "SegResNet": NetworkInfo("segmentation", "in_channels", "out_channels"),
}

# Arguments that would fetch weights from the network; nothing may be downloaded.
_FORBIDDEN_TRUE = ("pretrained",)


def _network_class(name: str) -> Any:
    import monai.networks.nets as nets

    return getattr(nets, name)


def check_network_args(
    network: NetworkSpec, *, task: str, in_channels: int, n_classes: int
) -> None:
    """Check a network spec against the task, the input channels and the class count.

    Raises ``ValueError`` (turned into a field-path message by ``load_spec``) when the
    network serves another task, an argument is unknown to the constructor, a required
    argument is missing, a pretrained download is requested, or the channel/class
    arguments disagree with the spec.
    """
    info = NETWORKS[network.name]
    if info.task != task:
        raise ValueError(
            f"network.name: {network.name} is a {info.task} network, the spec's task is {task}"
        )
    args = dict(network.args)
    for key in _FORBIDDEN_TRUE:
        if args.get(key):
            raise ValueError(
                f"network.args.{key}: expected false (no weights are downloaded), found true"
            )
    if args.get("spatial_dims", 2) != 2:
        raise ValueError(f"network.args.spatial_dims: expected 2, found {args['spatial_dims']!r}")
    args.setdefault("spatial_dims", 2)
    if info.in_arg in args and args[info.in_arg] != in_channels:
        raise ValueError(
            f"network.args.{info.in_arg}: expected {in_channels} (input.channels), "
            f"found {args[info.in_arg]!r}"
        )
    args[info.in_arg] = in_channels
    if info.out_arg in args and args[info.out_arg] != n_classes:
        raise ValueError(
            f"network.args.{info.out_arg}: expected {n_classes} (one per class), "
            f"found {args[info.out_arg]!r}"
        )
    args[info.out_arg] = n_classes
    sig = inspect.signature(_network_class(network.name))
    try:
        sig.bind(**args)
    except TypeError as exc:
        raise ValueError(f"network.args: {exc} (constructor {network.name}{sig})") from None


def build_network(network: NetworkSpec, *, in_channels: int, n_classes: int) -> torch.nn.Module:
    """Instantiate the MONAI network of a spec (2D, channels and outputs filled from the spec).

    Example
    -------
    >>> from validation.modeling.spec import NetworkSpec
    >>> net = build_network(NetworkSpec(name="DenseNet", args={"init_features": 4,
    ...     "growth_rate": 4, "block_config": [1, 1]}), in_channels=1, n_classes=2)
    >>> net(torch.zeros(1, 1, 32, 32)).shape
    torch.Size([1, 2])
    """
    info = NETWORKS[network.name]
    args = dict(network.args)
    args.setdefault("spatial_dims", 2)
    args[info.in_arg] = in_channels
    args[info.out_arg] = n_classes
    # YAML gives lists; MONAI accepts sequences, but some constructors index tuples.
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    return _network_class(network.name)(**args)
