"""The zoo: one small builder for every public model constructor of keras.applications and
every ``keras_hub.models.*Backbone`` class (issue 11, docs/zoo.md).

Importing this module imports neither Keras nor keras-hub: builders import them when called, and
the names the installed libraries export are read from their generated public-API files
(``keras/applications/__init__.py``, ``keras_hub/models/__init__.py``), so the coverage test runs
in the backend-independent part of CI.

Each ``ZooModel`` has a zero-argument ``build()`` that returns a freshly built model (weights not
loaded: ``weights=None``, never a preset), the backend CI runs it on (``backend``), and, per
backend, the reason keras-hub or Keras itself cannot build it there (verified without any policy
by ``tools/zoo_table.py``; the table is ``docs/zoo.md``).

Configurations: keras.applications constructors take no width or depth arguments, so they are
built at their real size with the smallest input each allows and ``classes=4``. keras-hub
backbones take every size as an argument; the configurations below follow the small ones in
keras-hub's own ``*_backbone_test.py`` files (hidden sizes 8-32, vocabularies of 64, 1-2 layers),
and composite backbones (CLIP, SigLIP, BLIP-2, SAM, Stable Diffusion 3, ...) are assembled from
small encoders.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")
CI_MODES = ("keep", "override")
APPLICATIONS = "keras.applications"
HUB = "keras_hub"


@dataclass(frozen=True)
class ZooModel:
    name: str  # the public name: `keras.applications.<name>` or `keras_hub.models.<name>`
    library: str  # APPLICATIONS or HUB
    build: Callable = field(repr=False, compare=False)
    cost: dict = field(default_factory=dict, compare=False)  # backend -> seconds of one build
    cannot_build: dict = field(default_factory=dict, compare=False)  # backend -> library's reason
    backend: str = ""  # the backend CI runs this model on (set by `_assign_backends`)
    ci_mode: str = ""  # the `@explicit` mode CI runs it under ("keep" or "override")

    @property
    def id(self) -> str:
        return self.name


# --------------------------------------------------------------------------------------------
# What the installed libraries export, read without importing them.


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)  # a top-level package: nothing is imported
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{package} is not installed")
    return Path(spec.origin).parent


def _exports(init_file: Path) -> dict[str, tuple[str, str]]:
    """``public name -> (source module, source name)`` for the `from X import A as B` lines."""
    tree = ast.parse(init_file.read_text(encoding="utf-8"))
    out = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and ".src." in f".{node.module}.":
            for alias in node.names:
                out[alias.asname or alias.name] = (node.module, alias.name)
    return out


def installed_application_names() -> set[str]:
    """Every model constructor exported by ``keras.applications`` (CamelCase names)."""
    exports = _exports(_package_dir("keras") / "applications" / "__init__.py")
    return {name for name, (module, _) in exports.items() if name[0].isupper() and module}


def installed_backbone_exports() -> dict[str, tuple[str, str]]:
    """``name -> (module, class)`` for every ``keras_hub.models`` name ending in "Backbone"."""
    exports = _exports(_package_dir("keras_hub") / "models" / "__init__.py")
    return {name: src for name, src in exports.items() if name.endswith("Backbone")}


# Names that are not a model of their own.
HUB_ABSTRACT = {
    "Backbone": "the base class of every keras-hub backbone; it defines no layers",
    "FeaturePyramidBackbone": "a base class (adds `pyramid_outputs`); no layers of its own",
}


def hub_aliases() -> dict[str, str]:
    """Public names that export the same class as another public name: alias -> catalogued name."""
    exports = installed_backbone_exports()
    by_source: dict[tuple[str, str], list[str]] = {}
    for name, src in sorted(exports.items()):
        by_source.setdefault(src, []).append(name)
    aliases = {}
    for names in by_source.values():
        # The catalogued name is the one that equals the class's own name.
        canonical = next((n for n in names if n in _HUB_CONFIGS), names[0])
        aliases.update({n: canonical for n in names if n != canonical})
    return aliases


# --------------------------------------------------------------------------------------------
# keras.applications: every public constructor, with the smallest input it accepts with
# weights=None (32x32 unless it needs more).

_APPLICATIONS: dict[str, tuple[int, int, int]] = {
    name: (32, 32, 3)
    for name in (
        "ConvNeXtBase ConvNeXtLarge ConvNeXtSmall ConvNeXtTiny ConvNeXtXLarge "
        "DenseNet121 DenseNet169 DenseNet201 "
        "EfficientNetB0 EfficientNetB1 EfficientNetB2 EfficientNetB3 EfficientNetB4 "
        "EfficientNetB5 EfficientNetB6 EfficientNetB7 "
        "EfficientNetV2B0 EfficientNetV2B1 EfficientNetV2B2 EfficientNetV2B3 "
        "EfficientNetV2L EfficientNetV2M EfficientNetV2S "
        "MobileNet MobileNetV2 MobileNetV3Large MobileNetV3Small NASNetLarge NASNetMobile "
        "ResNet50 ResNet101 ResNet152 ResNet50V2 ResNet101V2 ResNet152V2 VGG16 VGG19"
    ).split()
}
_APPLICATIONS.update(InceptionV3=(75, 75, 3), InceptionResNetV2=(75, 75, 3), Xception=(71, 71, 3))


def _application(name: str) -> Callable:
    def build():
        import keras

        constructor = getattr(keras.applications, name)
        return constructor(
            weights=None,
            input_shape=_APPLICATIONS[name],
            include_top=True,
            classes=4,
        )

    build.__name__ = f"build_{name}"
    return build


# --------------------------------------------------------------------------------------------
# keras-hub backbones: keyword arguments, or a function for composite ones.

_TEXT = dict(vocabulary_size=64, num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32)
_DECODER = dict(
    vocabulary_size=64,
    num_layers=1,
    num_query_heads=4,
    num_key_value_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
)


def _resnet_small(**extra):
    from keras_hub.models import ResNetBackbone

    kwargs = dict(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 16, 16, 16],  # keras-hub requires 64 first
        stackwise_num_blocks=[1, 1, 1, 1],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(None, None, 3),
    )
    kwargs.update(extra)
    return ResNetBackbone(**kwargs)


def _basnet():
    from keras_hub.models import BASNetBackbone

    return BASNetBackbone(image_encoder=_resnet_small(), num_classes=1, image_shape=(32, 32, 3))


def _deeplab():
    from keras_hub.models import DeepLabV3Backbone

    return DeepLabV3Backbone(
        image_encoder=_resnet_small(),
        low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P4",
        dilation_rates=[2, 4],
        upsampling_size=4,
        image_shape=(32, 32, 3),
    )


def _retinanet():
    from keras_hub.models import RetinaNetBackbone

    return RetinaNetBackbone(
        image_encoder=_resnet_small(),
        min_level=3,
        max_level=5,
        use_p5=True,
        image_shape=(32, 32, 3),
    )


def _blip2():
    from keras_hub.models import BLIP2Backbone, BLIP2CustomOPT, BLIP2QFormer, BLIP2VisionEncoder

    vision = BLIP2VisionEncoder(
        image_size=16,
        patch_size=4,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        use_patch_bias=True,
        use_class_token=True,
        use_mha_bias=True,
        use_mlp_bias=True,
        dropout_rate=0.0,
        layer_norm_epsilon=1e-6,
        initializer_range=0.02,
    )
    qformer = BLIP2QFormer(
        num_query_tokens=2,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        vision_dim=8,
        cross_attention_frequency=1,
        dropout=0.0,
        layer_norm_epsilon=1e-6,
    )
    language = BLIP2CustomOPT(
        vocabulary_size=64,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        num_query_tokens=2,
        qformer_hidden_dim=8,
        max_sequence_length=16,
        dropout=0.0,
        language_projection=None,
    )
    return BLIP2Backbone(vision_encoder=vision, qformer=qformer, language_model=language)


def _clip_like(prefix: str, projection: bool = True):
    import keras_hub

    vision = getattr(keras_hub.models, f"{prefix}VisionEncoder")(
        8, 16, 1, 2, 32, image_shape=(16, 16, 3), name="vision_encoder"
    )
    text = getattr(keras_hub.models, f"{prefix}TextEncoder")(
        64, 16, 16, 1, 2, 32, max_sequence_length=8, name="text_encoder"
    )
    kwargs = dict(projection_dim=16) if projection else {}
    return getattr(keras_hub.models, f"{prefix}Backbone")(
        vision_encoder=vision, text_encoder=text, **kwargs
    )


def _dfine():
    from keras_hub.models import DFineBackbone, HGNetV2Backbone

    hgnet = HGNetV2Backbone(
        stem_channels=[3, 8, 8],
        stackwise_stage_filters=[[8, 8, 16, 1, 1, 3], [16, 8, 32, 1, 1, 3]],
        apply_downsample=[False, True],
        use_lightweight_conv_block=[False, False],
        depths=[1, 1],
        hidden_sizes=[16, 32],
        embedding_size=8,
        use_learnable_affine_block=True,
        hidden_act="relu",
        image_shape=(None, None, 3),
        out_features=["stage1", "stage2"],
    )
    return DFineBackbone(
        backbone=hgnet,
        decoder_in_channels=[16, 16],
        encoder_hidden_dim=16,
        num_denoising=0,
        num_labels=4,
        hidden_dim=16,
        learn_initial_query=False,
        num_queries=4,
        anchor_image_size=(32, 32),
        feat_strides=[4, 8],
        num_feature_levels=2,
        encoder_in_channels=[16, 32],
        encode_proj_layers=[1],
        num_attention_heads=2,
        encoder_ffn_dim=16,
        num_encoder_layers=1,
        hidden_expansion=0.5,
        depth_multiplier=0.5,
        eval_idx=-1,
        num_decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=16,
        decoder_n_points=[2, 2],
        lqe_hidden_dim=8,
        num_lqe_layers=1,
        out_features=["stage1", "stage2"],
        image_shape=(32, 32, 3),
        seed=0,
    )


def _depth_anything():
    from keras_hub.models import DepthAnythingBackbone, DINOV2Backbone

    encoder = DINOV2Backbone(
        patch_size=14,
        num_layers=4,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        layer_scale_init_value=1.0,
        num_register_tokens=0,
        image_shape=(126, 126, 3),  # 9x9 patches: the smallest stage (x0.5) still fits a 3x3 conv
        apply_layernorm=True,
        name="image_encoder",
    )
    return DepthAnythingBackbone(
        image_encoder=encoder,
        reassemble_factors=[4, 2, 1, 0.5],
        neck_hidden_dims=[8, 8, 16, 16],
        fusion_hidden_dim=16,
        head_hidden_dim=8,
        head_in_index=-1,
        feature_keys=["stage1", "stage2", "stage3", "stage4"],
    )


def _flux():
    from keras_hub.models import FluxBackbone

    return FluxBackbone(
        input_channels=16,
        hidden_size=32,
        mlp_ratio=2.0,
        num_heads=2,
        depth=1,
        depth_single_blocks=1,
        axes_dim=[4, 6, 6],
        theta=10_000,
        use_bias=True,
        guidance_embed=True,
        image_shape=(8, 16),
        text_shape=(8, 16),
        image_ids_shape=(8, 3),
        text_ids_shape=(8, 3),
        y_shape=(16,),
    )


def _gemma3():
    from keras_hub.models import Gemma3Backbone, Gemma3VisionEncoder

    vision = Gemma3VisionEncoder(
        image_size=16,
        patch_size=4,
        pool_size=2,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        output_dim=8,
    )
    return Gemma3Backbone(
        vocabulary_size=64,
        image_size=16,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=8,
        intermediate_dim=16,
        head_dim=4,
        query_head_dim_normalize=True,
        use_query_key_norm=True,
        use_post_ffw_norm=True,
        use_post_attention_norm=True,
        use_sliding_window_attention=True,
        sliding_window_size=16,
        vision_encoder=vision,
    )


def _gemma3n():
    from keras_hub.models import Gemma3nBackbone

    return Gemma3nBackbone(
        text_vocab_size=64,
        text_hidden_size=8,
        num_hidden_layers=1,
        pad_token_id=0,
        num_attention_heads=1,
        num_key_value_heads=1,
        head_dim=8,
        intermediate_size=[16],
        hidden_activation="gelu_approximate",
        layer_types=["full_attention"],
        sliding_window=4,
        rope_theta=10000.0,
        max_position_embeddings=16,
        vocab_size_per_layer_input=64,
        hidden_size_per_layer_input=2,
        altup_num_inputs=2,
        laurel_rank=1,
    )


def _gemma4():
    from keras_hub.models import Gemma4Backbone, Gemma4VisionEncoder

    vision = Gemma4VisionEncoder(
        image_size=16,
        patch_size=4,
        pool_size=2,
        num_layers=1,
        num_heads=2,
        head_dim=4,
        num_key_value_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        output_dim=8,
    )
    return Gemma4Backbone(
        vocabulary_size=64,
        image_size=16,
        num_layers=2,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=8,
        intermediate_dim=16,
        head_dim=4,
        use_sliding_window_attention=True,
        sliding_window_size=16,
        attention_logit_soft_cap=None,
        final_logit_soft_cap=None,
        vision_encoder=vision,
    )


def _pali_gemma():
    from keras_hub.models import PaliGemmaBackbone

    return PaliGemmaBackbone(
        vocabulary_size=64,
        image_size=16,
        num_layers=1,
        num_query_heads=2,
        num_key_value_heads=1,
        hidden_dim=8,
        intermediate_dim=16,
        head_dim=4,
        vit_patch_size=4,
        vit_num_layers=1,
        vit_num_heads=2,
        vit_hidden_dim=8,
        vit_intermediate_dim=16,
    )


def _parseq():
    from keras_hub.models import PARSeqBackbone, ViTBackbone

    encoder = ViTBackbone(
        image_shape=(16, 32, 3),
        patch_size=(4, 8),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        use_class_token=False,
        name="image_encoder",
    )
    return PARSeqBackbone(
        image_encoder=encoder,
        vocabulary_size=64,
        max_label_length=8,
        decoder_hidden_dim=16,
        num_decoder_layers=1,
        num_decoder_heads=2,
        decoder_mlp_dim=32,
    )


def _qwen3_5():
    from keras_hub.models import Qwen3_5Backbone

    return Qwen3_5Backbone(**_QWEN3_5)


def _sam():
    from keras_hub.layers import SAMMaskDecoder, SAMPromptEncoder
    from keras_hub.models import SAMBackbone, ViTDetBackbone

    encoder = ViTDetBackbone(
        hidden_size=16,
        num_layers=2,
        intermediate_dim=32,
        num_heads=2,
        global_attention_layer_indices=[1],
        patch_size=2,
        num_output_channels=8,
        window_size=2,
        image_shape=(16, 16, 3),
    )
    prompt = SAMPromptEncoder(
        hidden_size=8,
        image_embedding_size=(8, 8),
        input_image_size=(16, 16),
        mask_in_channels=16,
    )
    decoder = SAMMaskDecoder(
        num_layers=1,
        hidden_size=8,
        intermediate_dim=16,
        num_heads=2,
        embedding_dim=8,
        num_multimask_outputs=3,
        iou_head_depth=2,
        iou_head_hidden_dim=8,
    )
    return SAMBackbone(image_encoder=encoder, prompt_encoder=prompt, mask_decoder=decoder)


def _sam3():
    from keras_hub.layers import (
        SAM3DetrDecoder,
        SAM3DetrEncoder,
        SAM3GeometryEncoder,
        SAM3MaskDecoder,
        SAM3TextEncoder,
        SAM3VisionEncoder,
    )
    from keras_hub.models import SAM3PromptableConceptBackbone

    return SAM3PromptableConceptBackbone(
        vision_encoder=SAM3VisionEncoder(
            image_shape=(28, 28, 3),
            patch_size=14,
            num_layers=2,
            hidden_dim=16,
            intermediate_dim=32,
            num_heads=2,
            fpn_hidden_dim=16,
            fpn_scale_factors=[4.0, 2.0, 1.0, 0.5],
            pretrain_image_shape=(42, 42, 3),
            window_size=2,
            global_attn_indexes=[1],
        ),
        text_encoder=SAM3TextEncoder(
            vocabulary_size=64,
            embedding_dim=16,
            hidden_dim=16,
            num_layers=1,
            num_heads=2,
            intermediate_dim=32,
        ),
        geometry_encoder=SAM3GeometryEncoder(
            num_layers=1, hidden_dim=16, intermediate_dim=32, num_heads=2, roi_size=7
        ),
        detr_encoder=SAM3DetrEncoder(num_layers=1, hidden_dim=16, intermediate_dim=32, num_heads=2),
        detr_decoder=SAM3DetrDecoder(
            image_shape=(28, 28, 3),
            patch_size=14,
            num_layers=1,
            hidden_dim=16,
            intermediate_dim=32,
            num_heads=2,
            num_queries=4,
        ),
        mask_decoder=SAM3MaskDecoder(num_upsampling_stages=3, hidden_dim=16, num_heads=2),
    )


def _segformer():
    from keras_hub.models import MiTBackbone, SegFormerBackbone

    encoder = MiTBackbone(**_MIT)
    return SegFormerBackbone(image_encoder=encoder, projection_filters=16)


def _vae(**extra):
    # Not exported by keras_hub.models: the Stable Diffusion 3 backbone's image autoencoder.
    from keras_hub.src.models.vae.vae_backbone import VAEBackbone

    # 32 filters: its group normalization uses 32 groups.
    return VAEBackbone([32, 32], [1, 1], [32, 32], [1, 1], sampler_method="mode", **extra)


def _sd3():
    from keras_hub.models import CLIPTextEncoder, StableDiffusion3Backbone

    # Two layers each: the backbone reads the second-to-last layer's output (-2).
    clip_l = CLIPTextEncoder(64, 16, 16, 2, 2, 32, "quick_gelu", -2, name="clip_l")
    clip_g = CLIPTextEncoder(64, 16, 16, 2, 2, 32, "gelu", -2, name="clip_g")
    return StableDiffusion3Backbone(
        mmdit_patch_size=2,
        mmdit_hidden_dim=16,
        mmdit_num_layers=1,
        mmdit_num_heads=2,
        mmdit_position_size=16,
        mmdit_qk_norm=None,
        mmdit_dual_attention_indices=None,
        vae=_vae(name="vae"),
        clip_l=clip_l,
        clip_g=clip_g,
        image_shape=(32, 32, 3),
    )


def _mobilenetv5():
    from keras_hub.models import MobileNetV5Backbone

    return MobileNetV5Backbone(
        stackwise_block_types=[["er"], ["uir"]],
        stackwise_num_blocks=[1, 1],
        stackwise_num_filters=[[8], [16]],
        stackwise_strides=[[2], [2]],
        stackwise_act_layers=[["relu"], ["relu"]],
        stackwise_exp_ratios=[[2.0], [2.0]],
        stackwise_se_ratios=[[0.0], [0.0]],
        stackwise_dw_kernel_sizes=[[0], [3]],
        stackwise_dw_start_kernel_sizes=[[0], [0]],
        stackwise_dw_end_kernel_sizes=[[0], [0]],
        stackwise_exp_kernel_sizes=[[3], [0]],
        stackwise_pw_kernel_sizes=[[1], [0]],
        stackwise_num_heads=[[0], [0]],
        stackwise_key_dims=[[0], [0]],
        stackwise_value_dims=[[0], [0]],
        stackwise_kv_strides=[[0], [0]],
        stackwise_use_cpe=[[False], [False]],
        image_shape=(32, 32, 3),
        stem_size=8,
        use_msfa=False,
    )


_MIT = dict(
    layerwise_depths=[1, 1],
    image_shape=(32, 32, 3),
    hidden_dims=[8, 16],
    num_layers=2,
    layerwise_num_heads=[1, 2],
    layerwise_sr_ratios=[4, 2],
    max_drop_path_rate=0.1,
    layerwise_patch_sizes=[7, 3],
    layerwise_strides=[4, 2],
)

_QWEN3_5 = dict(
    vocabulary_size=64,
    num_layers=2,
    num_query_heads=2,
    num_key_value_heads=1,
    head_dim=8,
    hidden_dim=16,
    intermediate_dim=32,
    layer_types=["linear_attention", "full_attention"],
    partial_rotary_factor=0.25,
    linear_num_key_heads=2,
    linear_num_value_heads=2,
    linear_key_head_dim=4,
    linear_value_head_dim=4,
    linear_conv_kernel_dim=4,
)

_MOE = dict(num_experts=2, top_k=2)

# name -> keyword arguments (a dict) or a zero-argument builder (composite backbones).
_HUB_CONFIGS: dict[str, dict | Callable] = {
    "AlbertBackbone": dict(
        _TEXT, num_groups=1, num_inner_repetitions=1, embedding_dim=8, max_sequence_length=8
    ),
    "BartBackbone": dict(_TEXT, max_sequence_length=8),
    "BASNetBackbone": _basnet,
    "BertBackbone": dict(_TEXT, max_sequence_length=8),
    "BLIP2Backbone": _blip2,
    "BloomBackbone": dict(_TEXT),
    "CLIPBackbone": lambda: _clip_like("CLIP"),
    "CSPNetBackbone": dict(
        stem_filters=8,
        stem_kernel_size=3,
        stem_strides=1,
        stackwise_strides=2,
        stackwise_depth=[1, 1],
        stackwise_num_filters=[8, 16],
        image_shape=(32, 32, 3),
        down_growth=True,
        bottle_ratio=(0.5, 1.0),
        block_ratio=(1.0, 0.5),
        expand_ratio=(2.0, 1.0),
        block_type="dark_block",
        stage_type="csp",
        stem_padding="same",
    ),
    "DFineBackbone": _dfine,
    "DebertaV3Backbone": dict(_TEXT, max_sequence_length=8),
    "DeepLabV3Backbone": _deeplab,
    "DeiTBackbone": dict(
        image_shape=(16, 16, 3),
        patch_size=4,
        num_layers=1,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        use_mha_bias=True,
    ),
    "DenseNetBackbone": dict(
        stackwise_num_repeats=[1, 1, 1, 1],
        compression_ratio=0.5,
        growth_rate=4,
        image_shape=(32, 32, 3),
    ),
    "DepthAnythingBackbone": _depth_anything,
    "DINOV2Backbone": dict(
        patch_size=14,
        num_layers=1,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        layer_scale_init_value=1.0,
        num_register_tokens=2,
        use_swiglu_ffn=True,
        image_shape=(28, 28, 3),
    ),
    "DINOV3Backbone": dict(
        patch_size=16,
        num_layers=1,
        hidden_dim=16,
        num_heads=2,
        intermediate_dim=32,
        layer_scale_init_value=1.0,
        num_register_tokens=2,
        use_gated_mlp=False,
        image_shape=(32, 32, 3),
    ),
    "DistilBertBackbone": dict(_TEXT, max_sequence_length=8),
    "EdRecBackbone": dict(
        vocab_size=64,
        num_layers_enc=1,
        num_layers_dec=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
    ),
    "EfficientNetBackbone": dict(
        stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 1],
        stackwise_input_filters=[8, 8],
        stackwise_output_filters=[8, 16],
        stackwise_expansion_ratios=[1, 4],
        stackwise_squeeze_and_excite_ratios=[0.0, 0.25],
        stackwise_strides=[1, 2],
        stackwise_block_types=["fused", "unfused"],
        stackwise_force_input_filters=[0, 0],
        stackwise_nores_option=[False, False],
        width_coefficient=1.0,
        depth_coefficient=1.0,
        image_shape=(32, 32, 3),
    ),
    "ElectraBackbone": dict(
        vocab_size=64,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        embedding_dim=16,
        intermediate_dim=32,
        max_sequence_length=8,
    ),
    "ESMBackbone": dict(_TEXT),
    "FNetBackbone": dict(
        vocabulary_size=64, num_layers=1, hidden_dim=16, intermediate_dim=32, max_sequence_length=8
    ),
    "FalconBackbone": dict(
        vocabulary_size=64, num_layers=1, num_attention_heads=2, hidden_dim=16, intermediate_dim=32
    ),
    "FluxBackbone": _flux,
    "GemmaBackbone": dict(_DECODER, num_key_value_heads=1, head_dim=4),
    "Gemma3Backbone": _gemma3,
    "Gemma3nBackbone": _gemma3n,
    "Gemma4Backbone": _gemma4,
    "GPT2Backbone": dict(_TEXT, max_sequence_length=8),
    "GPTNeoXBackbone": dict(_TEXT, max_sequence_length=8),
    "GptOssBackbone": dict(_DECODER, **_MOE, sliding_window=4),
    "HGNetV2Backbone": dict(
        embedding_size=8,
        stem_channels=[3, 8, 8],
        hidden_act="relu",
        use_learnable_affine_block=False,
        image_shape=(32, 32, 3),
        depths=[1, 1],
        hidden_sizes=[16, 32],
        stackwise_stage_filters=[[8, 8, 16, 1, 1, 3], [16, 8, 32, 1, 1, 3]],
        apply_downsample=[False, True],
        use_lightweight_conv_block=[False, True],
        out_features=["stem", "stage1", "stage2"],
    ),
    "LlamaBackbone": dict(_DECODER),
    "Llama3Backbone": dict(_DECODER),
    "MetaCLIP2Backbone": lambda: _clip_like("MetaCLIP2"),
    "MistralBackbone": dict(_DECODER, sliding_window=4),
    "MiTBackbone": dict(_MIT),
    "MixtralBackbone": dict(_DECODER, **_MOE, sliding_window=4),
    "MobileNetBackbone": dict(
        stackwise_expansion=[[16], [24]],
        stackwise_num_blocks=[1, 1],
        stackwise_num_filters=[[8], [16]],
        stackwise_kernel_size=[[3], [5]],
        stackwise_num_strides=[[2], [2]],
        stackwise_se_ratio=[[None], [0.25]],
        stackwise_activation=[["relu"], ["hard_swish"], ["hard_swish"]],
        stackwise_padding=[[1], [2]],
        output_num_filters=32,
        input_activation="hard_swish",
        output_activation="hard_swish",
        input_num_filters=8,
        image_shape=(32, 32, 3),
        depthwise_filters=8,
        depthwise_stride=2,
        depthwise_residual=False,
        squeeze_and_excite=0.5,
        last_layer_filter=32,
    ),
    "MobileNetV5Backbone": _mobilenetv5,
    "MoonshineBackbone": dict(
        vocabulary_size=64,
        filter_dim=16,
        encoder_num_layers=1,
        decoder_num_layers=1,
        hidden_dim=16,
        intermediate_dim=32,
        encoder_num_heads=2,
        decoder_num_heads=2,
        feedforward_expansion_factor=2,
        encoder_use_swiglu_activation=False,
        decoder_use_swiglu_activation=True,
        max_position_embeddings=64,
        partial_rotary_factor=0.62,
    ),
    "OPTBackbone": dict(_TEXT, max_sequence_length=8),
    "PaliGemmaBackbone": _pali_gemma,
    "PARSeqBackbone": _parseq,
    "Phi3Backbone": dict(_DECODER),
    "QwenBackbone": dict(_DECODER),
    "Qwen3Backbone": dict(_DECODER, head_dim=4),
    "Qwen3_5Backbone": _qwen3_5,
    "Qwen3_5MoeBackbone": dict(
        {k: v for k, v in _QWEN3_5.items() if k != "intermediate_dim"},
        moe_intermediate_dim=8,
        shared_expert_intermediate_size=8,
        **_MOE,
    ),
    "Qwen3MoeBackbone": dict(_DECODER, head_dim=4, moe_intermediate_dim=16, **_MOE),
    "QwenMoeBackbone": dict(
        _DECODER, moe_intermediate_dim=16, shared_expert_intermediate_dim=16, **_MOE
    ),
    "ResNetBackbone": lambda: _resnet_small(block_type="bottleneck_block"),
    "RetinaNetBackbone": _retinanet,
    "RobertaBackbone": dict(_TEXT, max_sequence_length=8),
    "RoformerV2Backbone": dict(_TEXT, head_size=8),
    "RWKV7Backbone": dict(
        vocabulary_size=64,
        hidden_size=16,
        num_layers=1,
        head_size=4,
        intermediate_dim=32,
        gate_lora=8,
        mv_lora=8,
        aaa_lora=8,
        decay_lora=8,
    ),
    "SAMBackbone": _sam,
    "SAM3PromptableConceptBackbone": _sam3,
    "SegFormerBackbone": _segformer,
    "SigLIPBackbone": lambda: _clip_like("SigLIP", projection=False),
    "SmolLM3Backbone": dict(
        vocabulary_size=64,
        hidden_dim=16,
        intermediate_dim=32,
        num_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        attention_bias=False,
        attention_dropout=0.0,
        rope_layer_enabled_list=[True, False],
        layer_types=["attention", "attention"],
        mlp_bias=False,
        layer_norm_epsilon=1e-5,
        max_position_embeddings=64,
        rope_theta=10000.0,
        partial_rotary_factor=1.0,
    ),
    "StableDiffusion3Backbone": _sd3,
    "SwinTransformerBackbone": dict(
        image_shape=(32, 32, 3), embed_dim=8, depths=(1, 1), num_heads=(1, 2), window_size=4
    ),
    "T5Backbone": dict(_TEXT),
    "T5GemmaBackbone": dict(
        vocabulary_size=64,
        encoder_hidden_dim=16,
        encoder_intermediate_dim=32,
        encoder_num_layers=1,
        encoder_num_attention_heads=2,
        encoder_num_key_value_heads=1,
        encoder_head_dim=8,
        encoder_layer_types=["full_attention"],
        decoder_hidden_dim=16,
        decoder_intermediate_dim=32,
        decoder_num_layers=1,
        decoder_num_attention_heads=2,
        decoder_num_key_value_heads=1,
        decoder_head_dim=8,
        decoder_layer_types=["full_attention"],
        cross_attention_hidden_size=16,
        sliding_window=8,
    ),
    "T5Gemma2Backbone": dict(
        vocabulary_size=64,
        encoder_hidden_dim=16,
        encoder_intermediate_dim=32,
        encoder_num_layers=1,
        encoder_num_attention_heads=2,
        encoder_num_key_value_heads=1,
        encoder_head_dim=8,
        encoder_layer_types=["full_attention"],
        decoder_hidden_dim=16,
        decoder_intermediate_dim=32,
        decoder_num_layers=1,
        decoder_num_attention_heads=2,
        decoder_num_key_value_heads=1,
        decoder_head_dim=8,
        decoder_layer_types=["full_attention"],
        cross_attention_hidden_size=16,
        sliding_window=8,
        use_query_key_norm=True,
    ),
    "VGGBackbone": dict(
        stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16], image_shape=(16, 16, 3)
    ),
    "VideoPrismBackbone": dict(
        image_shape=(16, 16, 3),
        num_frames=2,
        patch_size=4,
        hidden_dim=16,
        intermediate_dim=32,
        num_heads=2,
        num_spatial_layers=1,
        num_temporal_layers=1,
        num_auxiliary_layers=1,
        vocabulary_size=64,
        num_text_layers=1,
    ),
    "ViTBackbone": dict(
        image_shape=(16, 16, 3),
        patch_size=(4, 4),
        num_layers=1,
        hidden_dim=16,
        num_heads=2,
        mlp_dim=32,
        use_mha_bias=True,
    ),
    "ViTDetBackbone": dict(
        image_shape=(16, 16, 3),
        patch_size=2,
        hidden_size=8,
        num_layers=2,
        global_attention_layer_indices=[1],
        intermediate_dim=16,
        num_heads=2,
        num_output_channels=4,
        window_size=2,
    ),
    "WhisperBackbone": dict(_TEXT, max_encoder_sequence_length=8, max_decoder_sequence_length=8),
    "XceptionBackbone": dict(
        stackwise_conv_filters=[[32, 64], [128, 128], [256, 256]],  # as keras-hub's own test
        stackwise_pooling=[False, True, False],
        image_shape=(None, None, 3),
    ),
    "XLMRobertaBackbone": dict(_TEXT, max_sequence_length=8),
    "XLNetBackbone": dict(_TEXT),
}


def _hub(name: str, config) -> Callable:
    if callable(config):
        return config

    def build():
        import keras_hub

        return getattr(keras_hub.models, name)(**config)

    build.__name__ = f"build_{name}"
    return build


# --------------------------------------------------------------------------------------------
# Measured facts: seconds of one build under the policy per backend (tensorflow, jax, torch;
# `python tools/zoo_table.py --print-costs` prints this table from its last run, None = not
# measured), used only to spread models over the CI backends; and what the libraries themselves
# cannot build on a backend, with their own error (tools/zoo_table.py's "Keras itself" cells).

_COST: dict[str, tuple] = {  # tensorflow, jax, torch
    "ConvNeXtBase": (2.45, 14.87, 24.56),
    "ConvNeXtLarge": (3.66, 15.6, 35.73),
    "ConvNeXtSmall": (1.54, 4.18, 19.73),
    "ConvNeXtTiny": (0.97, 0.71, 11.13),
    "ConvNeXtXLarge": (5.76, 17.08, 79.93),
    "DenseNet121": (1.71, 22.86, 14.18),
    "DenseNet169": (2.44, 36.36, 20.78),
    "DenseNet201": (2.58, 29.83, 19.06),
    "EfficientNetB0": (1.03, 8.13, 7.34),
    "EfficientNetB1": (1.5, 1.44, 10.66),
    "EfficientNetB2": (1.4, 7.66, 10.03),
    "EfficientNetB3": (3.24, 7.67, 7.96),
    "EfficientNetB4": (4.73, 3.84, 6.53),
    "EfficientNetB5": (7.9, 5.06, 6.57),
    "EfficientNetB6": (8.58, 6.68, 8.4),
    "EfficientNetB7": (10.35, 3.41, 17.23),
    "EfficientNetV2B0": (3.65, 2.8, 3.91),
    "EfficientNetV2B1": (4.24, 0.88, 3.91),
    "EfficientNetV2B2": (3.88, 4.22, 5.02),
    "EfficientNetV2B3": (7.58, 2.23, 6.41),
    "EfficientNetV2L": (15.27, 5.63, 3.67),
    "EfficientNetV2M": (10.62, 6.28, 1.95),
    "EfficientNetV2S": (6.28, 4.49, 0.93),
    "InceptionResNetV2": (7.64, 77.44, 2.32),
    "InceptionV3": (4.14, 25.1, 0.81),
    "MobileNet": (1.16, 5.0, 0.18),
    "MobileNetV2": (1.58, 2.35, 0.2),
    "MobileNetV3Large": (1.92, 16.87, 0.27),
    "MobileNetV3Small": (2.09, 30.31, 0.16),
    "NASNetLarge": (15.51, 12.94, 2.55),
    "NASNetMobile": (11.7, 7.74, None),
    "ResNet101": (7.07, 15.01, 1.36),
    "ResNet101V2": (8.99, 2.12, 1.39),
    "ResNet152": (10.53, 2.76, 1.92),
    "ResNet152V2": (12.03, 3.39, 1.77),
    "ResNet50": (4.43, 0.99, 0.72),
    "ResNet50V2": (4.09, 0.97, 0.73),
    "VGG16": (2.19, 10.31, 0.91),
    "VGG19": (2.26, 0.71, 1.01),
    "Xception": (3.03, 1.03, 0.26),
    "AlbertBackbone": (0.57, 0.52, 0.41),
    "BASNetBackbone": (4.08, 16.27, 12.71),
    "BLIP2Backbone": (0.44, 1.46, 0.38),
    "BartBackbone": (0.29, 0.16, 0.18),
    "BertBackbone": (0.41, 0.08, 0.08),
    "BloomBackbone": (0.32, 0.44, 0.01),
    "CLIPBackbone": (0.5, 1.54, 0.08),
    "CSPNetBackbone": (0.86, 22.26, 0.23),
    "DFineBackbone": (3.08, 3.11, 0.3),
    "DINOV2Backbone": (0.33, 0.76, 0.12),
    "DINOV3Backbone": (0.57, 0.28, 0.12),
    "DebertaV3Backbone": (0.35, 0.09, 0.12),
    "DeepLabV3Backbone": (1.06, 6.32, 0.54),
    "DeiTBackbone": (0.45, 0.28, 0.05),
    "DenseNetBackbone": (0.64, 9.61, 0.14),
    "DepthAnythingBackbone": (2.5, 2.22, 0.32),
    "DistilBertBackbone": (0.23, 0.08, 0.1),
    "ESMBackbone": (0.22, 0.14, 0.09),
    "EdRecBackbone": (0.92, 0.67, 0.14),
    "EfficientNetBackbone": (0.57, 0.9, 0.23),
    "ElectraBackbone": (0.36, 0.13, 0.2),
    "FNetBackbone": (0.24, 0.08, 0.06),
    "FalconBackbone": (0.22, 0.09, 0.14),
    "FluxBackbone": (2.34, 10.42, 1.62),
    "GPT2Backbone": (0.28, 0.06, 0.04),
    "GPTNeoXBackbone": (0.22, 0.02, 0.03),
    "Gemma3Backbone": (0.73, 1.54, 0.37),
    "Gemma3nBackbone": (0.4, 9.66, 0.38),
    "Gemma4Backbone": (0.7, 1.42, 0.31),
    "GemmaBackbone": (0.2, 0.06, 0.08),
    "GptOssBackbone": (1.1, 0.48, 1.96),
    "HGNetV2Backbone": (0.74, 0.84, 0.11),
    "Llama3Backbone": (0.21, 0.15, 0.03),
    "LlamaBackbone": (0.25, 0.09, 0.03),
    "MetaCLIP2Backbone": (0.53, 3.16, 0.12),
    "MiTBackbone": (1.35, 4.34, 0.32),
    "MistralBackbone": (0.39, 0.07, 0.04),
    "MixtralBackbone": (0.2, 0.09, 0.09),
    "MobileNetBackbone": (0.84, 0.63, 0.55),
    "MobileNetV5Backbone": (0.39, 0.1, 0.23),
    "MoonshineBackbone": (0.51, 0.15, 0.8),
    "OPTBackbone": (0.24, 0.02, 0.17),
    "PARSeqBackbone": (0.79, 0.82, 0.48),
    "PaliGemmaBackbone": (0.49, 0.52, 0.33),
    "Phi3Backbone": (0.23, 0.05, 0.14),
    "Qwen3Backbone": (0.18, 0.02, 0.09),
    "Qwen3MoeBackbone": (0.28, 0.05, 0.1),
    "Qwen3_5Backbone": (0.37, 0.11, 0.09),
    "Qwen3_5MoeBackbone": (0.49, 0.13, 0.16),
    "QwenBackbone": (0.06, 0.04, 0.15),
    "QwenMoeBackbone": (0.46, 0.35, 0.21),
    "RWKV7Backbone": (0.55, 0.06, 0.93),
    "ResNetBackbone": (0.86, 6.77, 0.7),
    "RetinaNetBackbone": (0.81, 2.0, 1.09),
    "RobertaBackbone": (0.27, 0.02, 0.18),
    "RoformerV2Backbone": (0.24, 0.05, 0.19),
    "SAM3PromptableConceptBackbone": (3.02, 8.68, 2.42),
    "SAMBackbone": (0.76, 8.61, 0.76),
    "SegFormerBackbone": (2.33, 2.23, 1.0),
    "SigLIPBackbone": (0.93, 0.09, 0.59),
    "SmolLM3Backbone": (0.36, 0.16, 0.16),
    "StableDiffusion3Backbone": (2.32, 4.84, 1.99),
    "SwinTransformerBackbone": (2.25, 1.9, 0.98),
    "T5Backbone": (2.65, 0.99, 1.24),
    "T5Gemma2Backbone": (0.99, 0.26, 0.24),
    "T5GemmaBackbone": (0.52, 0.24, 0.57),
    "VGGBackbone": (0.09, 10.21, 0.08),
    "ViTBackbone": (0.65, 0.25, 0.22),
    "ViTDetBackbone": (0.53, 0.44, 0.48),
    "VideoPrismBackbone": (1.7, 1.49, 1.1),
    "WhisperBackbone": (0.58, 4.88, 0.84),
    "XLMRobertaBackbone": (0.36, 0.1, 0.29),
    "XLNetBackbone": (0.54, 0.05, 0.3),
    "XceptionBackbone": (0.65, 5.01, 0.27),
}

CANNOT_BUILD: dict[str, dict[str, str]] = {
    # keras/src/applications/nasnet.py raises this itself on torch (Keras 3.15), policy or not.
    "NASNetMobile": {
        "torch": "ValueError: NASNetMobile is not available with the torch backend at this "
        "time due to an outstanding bug. If interested, please open a PR."
    },
}


def _costs(name: str) -> dict[str, float]:
    measured = dict(zip(BACKENDS, _COST.get(name, (None,) * len(BACKENDS)), strict=True))
    known = [v for v in measured.values() if v is not None]
    fallback = sum(known) / len(known) if known else 1.0
    return {b: (v if v is not None else fallback) for b, v in measured.items()}


def _assign_backends(models: list[ZooModel]) -> list[ZooModel]:
    """Spread models over the backends (longest first, each to the backend where it would
    finish earliest among those that can build it), so each CI run gets a similar share."""
    load = dict.fromkeys(BACKENDS, 0.0)
    assigned = {}
    for m in sorted(models, key=lambda m: (-max(m.cost.values()), m.name)):
        choices = [b for b in BACKENDS if b not in m.cannot_build] or list(BACKENDS)
        if m.library == APPLICATIONS and len(choices) > 1:
            # Plain Keras on JAX compiles every random op anew for each weight shape, and the
            # fresh-process load test (test_zoo.py) rebuilds every saved model with plain Keras:
            # tens of seconds of XLA compilation per real-size application (builds in a scope
            # draw through runtime/draw.py and do not pay it). CI runs them on TensorFlow and
            # torch; the full matrix (tools/zoo_table.py) runs them on JAX too.
            choices = [b for b in choices if b != "jax"] or choices
        backend = min(choices, key=lambda b: (load[b] + m.cost[b], BACKENDS.index(b)))
        load[backend] += m.cost[backend]
        assigned[m.name] = backend
    # Within each backend, alternate the `@explicit` mode in name order, so CI checks every
    # model once and each backend runs both modes (ZOO_FULL=1 runs both for every model).
    modes = {}
    for backend in BACKENDS:
        mine = sorted(n for n, b in assigned.items() if b == backend)
        modes.update({n: CI_MODES[i % len(CI_MODES)] for i, n in enumerate(mine)})
    return [
        ZooModel(
            m.name, m.library, m.build, m.cost, m.cannot_build, assigned[m.name], modes[m.name]
        )
        for m in models
    ]


def ci_load() -> dict[str, float]:
    """Estimated seconds of one build of every model a CI backend runs."""
    load = dict.fromkeys(BACKENDS, 0.0)
    for m in MODELS:
        load[m.backend] += m.cost[m.backend]
    return load


def _catalogue() -> list[ZooModel]:
    models = [
        ZooModel(
            name,
            APPLICATIONS,
            _application(name),
            _costs(name),
            CANNOT_BUILD.get(name, {}),
        )
        for name in sorted(_APPLICATIONS)
    ]
    models += [
        ZooModel(name, HUB, _hub(name, config), _costs(name), CANNOT_BUILD.get(name, {}))
        for name, config in sorted(_HUB_CONFIGS.items())
    ]
    return _assign_backends(models)


def catalogued_names(library: str) -> set[str]:
    return set(_APPLICATIONS if library == APPLICATIONS else _HUB_CONFIGS)


MODELS: list[ZooModel] = _catalogue()
BY_NAME: dict[str, ZooModel] = {m.name: m for m in MODELS}
