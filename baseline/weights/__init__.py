"""Import IGN's published weights into flair-kit checkpoints (``flair-kit baseline import-weights``).

One module per source family, each with ``detect(shapes)`` and ``convert(source, options)``:

- :mod:`.ign_flair1`: IGN's FLAIR #1 challenge checkpoints (``model.seg_model.*``, 13 classes);
- :mod:`.ign_flair2`: IGN's FLAIR #2 U-T&T checkpoints (``model.arch_vhr.*``, ``model.arch_hr.*``);
- :mod:`.flair_inc`: the FLAIR-INC family on Hugging Face (smp U-Net/DeepLabV3 with ResNet or
  MiT encoders, 3 to 5 bands, 12 to 19 logits);
- :mod:`.flair_hub`: FLAIR-HUB (Swin, ConvNeXtV2, UPerNet), recognised and refused for now.

Files are read without executing pickled code (:mod:`.readers`); :mod:`.importer` runs the
detection, the conversion, a strict check against the network flair-kit builds, and writes the
checkpoint with its contract (:mod:`baseline.contract`) and provenance.
"""
