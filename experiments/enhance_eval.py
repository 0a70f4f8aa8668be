"""Compare pix2pix, the L1 U-Net, the identity and classical baselines on the same test pairs.

python -m experiments.enhance_eval --task=sr4 --pix2pix=runs/sr4 --unet=runs/l1_sr4 \
    --output=runs/sr4_compare

Tasks: sr2, sr4, inpaint_centre, inpaint_box, denoise, denoise_sp, edges (the pairs of
experiments/configs/pix2pix_<task>.py). Prints a markdown table (PSNR, SSIM, classifier
FD, accuracy, wall time per method; FID for the methods named by --fid=pix2pix,unet) and
writes it to <output>.md and the record to <output>.json; see genjax/studies/enhancement.py
for what each metric compares.
"""

from absl import flags

from experiments import launch
from genjax.studies.enhancement import METRICS, compare_methods, format_table

flags.DEFINE_string("task", "sr4", "The pair task: sr2, sr4, inpaint_centre, inpaint_box, "
                    "denoise, denoise_sp or edges.")
flags.DEFINE_string("pix2pix", None, "A trained pix2pix workdir for the task (optional).")
flags.DEFINE_string("unet", None, "A trained L1-only U-Net workdir for the task (optional).")
flags.DEFINE_bool("classical", True, "Also score the classical scikit-image baselines.")
flags.DEFINE_integer("num_examples", None, "Test pairs to score (default: the whole split).")
flags.DEFINE_integer("batch_size", 500, "Images per batch.")
flags.DEFINE_list("metrics", list(METRICS), "Metrics to compute.")
flags.DEFINE_list("fid", [], "Methods whose outputs also get FID against the real test images "
                  "(an Inception pass: about 11 min per 10k images on a 2-vCPU CPU).")
flags.DEFINE_string("output", None, "Write <output>.json and <output>.md (default: print only).")
FLAGS = flags.FLAGS


def main() -> None:
    workdirs = {name: path for name, path in (("pix2pix", FLAGS.pix2pix), ("unet", FLAGS.unet))
                if path}
    results = compare_methods(FLAGS.task, workdirs=workdirs, classical=FLAGS.classical,
                              num_examples=FLAGS.num_examples, batch_size=FLAGS.batch_size,
                              metrics=FLAGS.metrics, fid=FLAGS.fid, output=FLAGS.output)
    print(format_table(results))


if __name__ == "__main__":
    launch.command(main)
