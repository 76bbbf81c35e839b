"""LightningModules: classification (cross-entropy, AUC) and segmentation (Dice loss, Dice).

Both build their MONAI network from the spec (:func:`build_network`), so a checkpoint is
only a state dict of that network: :meth:`RadvalModule.network_state` and
:meth:`RadvalModule.load_network_state` move weights without pickling any object.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from monai.metrics import DiceMetric
from torchmetrics.classification import BinaryAUROC, MulticlassAUROC

from validation.errors import CheckpointError
from validation.modeling.networks import build_network
from validation.modeling.spec import ModelSpec

__all__ = ["ClassificationModule", "RadvalModule", "SegmentationModule", "module_for"]


class RadvalModule(pl.LightningModule):
    """Common parts: the network, the optimiser, weight export/import, GPU memory format."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        self.net = build_network(
            spec.network, in_channels=spec.input.channels, n_classes=len(spec.classes)
        )
        self._channels_last = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def on_predict_start(self) -> None:
        # channels_last speeds up convolutions on recent GPUs (tensor cores); on CPU it
        # changes nothing useful, and keeping the default layout keeps CPU scores
        # bit-identical between runs with different process counts.
        if self.device.type == "cuda":
            self._channels_last = True
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def configure_optimizers(self) -> Any:
        t = self.spec.training
        params = self.net.parameters()
        opt: torch.optim.Optimizer
        if t.optimizer == "adam":
            opt = torch.optim.Adam(params, lr=t.learning_rate, weight_decay=t.weight_decay)
        elif t.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay)
        else:
            opt = torch.optim.SGD(
                params, lr=t.learning_rate, weight_decay=t.weight_decay, momentum=0.9
            )
        if t.scheduler == "none":
            return opt
        steps = int(self.trainer.estimated_stepping_batches)
        sched: torch.optim.lr_scheduler.LRScheduler
        if t.scheduler == "cosine":
            # per-step cosine decay from learning_rate to 0 (Loshchilov & Hutter 2017)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1))
        else:
            # one cycle: warm up to learning_rate, then anneal (Smith & Topin 2019)
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=t.learning_rate, total_steps=max(steps, 1)
            )
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def network_state(self) -> dict[str, torch.Tensor]:
        """The network's weights as a plain ``{name: tensor}`` dict on CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.net.state_dict().items()}

    def load_network_state(self, state: Any, *, source: str) -> None:
        """Load weights produced by :meth:`network_state`; mismatches raise ``CheckpointError``."""
        if not isinstance(state, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
        ):
            raise CheckpointError(
                f"{source}: expected a state dict of tensors (name -> tensor), found "
                f"{type(state).__name__}"
            )
        own = self.net.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise CheckpointError(
                f"{source}: weights do not fit network {self.spec.network.name} of spec "
                f"{self.spec.name!r}: {len(missing)} missing key(s) (first: {missing[:3]}), "
                f"{len(unexpected)} unexpected key(s) (first: {unexpected[:3]})"
            )
        bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
        if bad:
            k = bad[0]
            raise CheckpointError(
                f"{source}: weight {k!r} has shape {tuple(state[k].shape)}, the network "
                f"expects {tuple(own[k].shape)} ({len(bad)} mismatched tensor(s))"
            )
        self.net.load_state_dict(state, strict=True)


class ClassificationModule(RadvalModule):
    """Cross-entropy training; validation AUC (torchmetrics) of the positive class."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        n = len(spec.classes)
        self.loss = torch.nn.CrossEntropyLoss()
        self.val_auc = BinaryAUROC() if n == 2 else MulticlassAUROC(num_classes=n)
        self.pos = spec.positive_index

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch["image"])
        loss = self.loss(logits, batch["label"].long())
        self.log(
            "train_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=logits.shape[0],
        )
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        y = batch["label"].long()
        self.log(
            "val_loss",
            self.loss(logits, y),
            on_step=False,
            on_epoch=True,
            batch_size=logits.shape[0],
        )
        probs = torch.softmax(logits.float(), dim=1)
        if len(self.spec.classes) == 2:
            self.val_auc.update(probs[:, self.pos], (y == self.pos).long())
        else:
            self.val_auc.update(probs, y)
        self.log(
            "val_auc",
            self.val_auc,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=logits.shape[0],
        )

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        x = batch["image"]
        if x.shape[0]:
            scores = torch.softmax(self(x).float(), dim=1)[:, self.pos].cpu().numpy()
        else:
            scores = torch.zeros(0).numpy()
        return {
            "group": batch["group"],
            "case_id": batch["case_id"],
            "score": scores,
            "failures": batch["failures"],
        }


class SegmentationModule(RadvalModule):
    """MONAI Dice loss (softmax, foreground, batch-wise) training; foreground Dice logged."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        # Lesions are small and many images have none: the foreground Dice over the whole
        # batch (batch=True) keeps empty images from dominating the loss.
        self.loss = DiceLoss(to_onehot_y=True, softmax=True, include_background=False, batch=True)
        self.dice = DiceMetric(include_background=False, reduction="mean", ignore_empty=False)
        self.pos = spec.positive_index

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        logits = self(batch["image"])
        loss = self.loss(logits, batch["label"])
        self.log(
            "train_loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=logits.shape[0],
        )
        return loss

    def _onehot_pred(self, logits: torch.Tensor) -> torch.Tensor:
        n = logits.shape[1]
        return F.one_hot(logits.argmax(dim=1), n).permute(0, 3, 1, 2).float()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self(batch["image"])
        y = batch["label"]
        self.log(
            "val_loss",
            self.loss(logits, y),
            on_step=False,
            on_epoch=True,
            batch_size=logits.shape[0],
        )
        n = logits.shape[1]
        y1 = F.one_hot(y[:, 0].long(), n).permute(0, 3, 1, 2).float()
        self.dice(self._onehot_pred(logits), y1)

    def on_validation_epoch_end(self) -> None:
        value = self.dice.aggregate()
        self.dice.reset()
        self.log("val_dice", torch.as_tensor(value).float().mean(), prog_bar=True)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        x = batch["image"]
        masks = []
        if x.shape[0]:
            prob = torch.softmax(self(x).float(), dim=1)[:, self.pos : self.pos + 1]
            thr = self.spec.operating_point.threshold
            assert thr is not None  # segmentation specs always fix their threshold
            for i in range(prob.shape[0]):
                shape = tuple(int(s) for s in batch["orig_shape"][i])
                # back to the image's own grid, then the locked threshold
                p = F.interpolate(
                    prob[i : i + 1], size=shape, mode="bilinear", align_corners=False
                )[0, 0]
                masks.append((p >= thr).to(torch.uint8).cpu().numpy())
        return {
            "group": batch["group"],
            "case_id": batch["case_id"],
            "mask": masks,
            "failures": batch["failures"],
        }


def module_for(spec: ModelSpec) -> RadvalModule:
    """The LightningModule for a spec's task."""
    if spec.task == "classification":
        return ClassificationModule(spec)
    return SegmentationModule(spec)
