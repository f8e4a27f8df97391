"""The DALI pipelines of a training script, as DALI's EfficientNet example has them
(docs/examples/use_cases/pytorch/efficientnet in NVIDIA/DALI): the training pipeline augments at
random, the validation pipeline is deterministic. The served pipeline
(repository/efficientnet_preprocess/1/dali.py) is adapted from ``validation_pipe``, as the guide
"DALI - from training to inference" says; ``dali-worker compare`` checks the adaptation:

  dali-worker compare efficientnet_preprocess --repository examples/training_to_serving/repository \\
      --reference examples/training_to_serving/validation.py:validation_pipe \\
      --data VAL_DIR --arg dali_cpu=True

``VAL_DIR`` holds one folder per class, as fn.readers.file reads it. ``dali_cpu`` runs the
pipeline on the CPU (the training script's --dali-cpu flag); on a GPU leave it False.
"""
from nvidia.dali import fn, pipeline_def, types

MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]
STD = [0.229 * 255, 0.224 * 255, 0.225 * 255]


@pipeline_def
def training_pipe(data_dir, interpolation=types.INTERP_LINEAR, image_size=224,
                  output_layout="CHW", rank=0, world_size=1, dali_cpu=False):
    """What the model was trained on: shuffled files, random crops and flips. Never serve this."""
    jpegs, labels = fn.readers.file(name="Reader", file_root=data_dir, shard_id=rank,
                                    num_shards=world_size, random_shuffle=True, pad_last_batch=True)
    images = fn.decoders.image_random_crop(jpegs, device="cpu" if dali_cpu else "mixed",
                                           output_type=types.RGB, random_aspect_ratio=[0.75, 4 / 3],
                                           random_area=[0.08, 1.0])
    images = fn.resize(images, resize_x=image_size, resize_y=image_size, interp_type=interpolation,
                       antialias=False)
    output = fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout=output_layout,
                                      crop=(image_size, image_size), mean=MEAN, std=STD,
                                      mirror=fn.random.coin_flip(probability=0.5))
    return output, labels


@pipeline_def
def validation_pipe(data_dir, interpolation=types.INTERP_LINEAR, image_size=256, image_crop=224,
                    output_layout="CHW", rank=0, world_size=1, dali_cpu=False):
    """What the model was validated on: every file once, in order; resize the shorter side,
    centre crop, normalize, CHW float. The served pipeline must give exactly these tensors."""
    jpegs, labels = fn.readers.file(name="Reader", file_root=data_dir, shard_id=rank,
                                    num_shards=world_size, random_shuffle=False, pad_last_batch=True)
    images = fn.decoders.image(jpegs, device="cpu" if dali_cpu else "mixed", output_type=types.RGB)
    images = fn.resize(images, resize_shorter=image_size, interp_type=interpolation,
                       antialias=False)
    output = fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout=output_layout,
                                      crop=(image_crop, image_crop), mean=MEAN, std=STD)
    return output, labels
