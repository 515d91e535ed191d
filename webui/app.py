"""The gradio page over ``webui.handlers`` (imported only by tools/webui.py)."""
import html
from pathlib import Path

import gradio as gr

from realesrgan_paddle.utils.cli_parser import fail

from .handlers import PRECISIONS, RUNS_DIRS, TEMPORAL, Session, list_reports, model_choices


def _upscale_tab(s, first):
    with gr.Row():
        with gr.Column():
            files = gr.File(label='images or videos', file_count='multiple', elem_id='upload')
            model = gr.Dropdown(model_choices(s.models), value=first, label='model', elem_id='model')
            with gr.Row():
                outscale = gr.Number(0, label='outscale (0: the model\'s)', minimum=0, maximum=16)
                tile = gr.Number(0, label='tile (0: automatic)', minimum=0, precision=0)
            precision = gr.Radio(list(PRECISIONS), value='auto', label='precision (auto: bf16 where the CPU has '
                                 'it and the model passes the check, as the CLI; the status says which ran)')
            dn = gr.Slider(0, 1, 0.5, label='denoise_strength (realesr-general-x4v3 only)')
            temporal = gr.Radio(list(TEMPORAL), value=TEMPORAL[0], elem_id='temporal',
                                label='videos: temporal (flow: the texture held still between frames, as the '
                                      'CLI; off: each frame as the model draws it)')
            go = gr.Button('Upscale', variant='primary', elem_id='run')
        with gr.Column():
            slider = gr.ImageSlider(label='before / after', type='filepath', elem_id='slider')
            outs = gr.File(label='results (PNG keeps alpha)', elem_id='results')
            msg = gr.Textbox(label='status', elem_id='status', interactive=False)

    def run(f, m, o, t, p, d, tm, progress=gr.Progress()):
        res, pair, text = s.upscale(f, m, o, t, p, d if m == 'realesr-general-x4v3' else None, progress, tm)
        return res, pair, text
    go.click(run, [files, model, outscale, tile, precision, dn, temporal], [outs, slider, msg])


def _compare_tab(s):
    img = gr.File(label='image', file_types=['image'], type='filepath')  # not gr.Image: it decodes before any check
    models = gr.Dropdown(model_choices(s.models), multiselect=True, label='models (two or more)')
    go = gr.Button('Compare')
    gallery = gr.Gallery(label='outputs', columns=3)
    table = gr.Dataframe(headers=['model', 'NIQE (lower is better)', 'Laplacian energy of Y'])
    msg = gr.Textbox(label='status', interactive=False)
    go.click(lambda i, m: s.compare(i, m), [img, models], [gallery, table, msg])
    video = gr.Video(label='or a video: FLICKER of its first 8 frames (centre 160 px), against bicubic')
    flick = gr.Button('Flicker')
    ftable = gr.Dataframe(headers=['model', 'static flicker vs bicubic', 'warp flicker vs bicubic'])
    flick.click(lambda v, m: s.compare_flicker(v, m), [video, models], [ftable, msg])


def _reports_tab(runs_dir):
    where = runs_dir if isinstance(runs_dir, str) else ' and '.join(map(str, runs_dir))
    pick = gr.Dropdown(list_reports(runs_dir), label=f'report.html under {where}')
    refresh = gr.Button('Refresh')
    view = gr.HTML()
    refresh.click(lambda: gr.Dropdown(choices=list_reports(runs_dir)), None, pick)
    pick.change(lambda p: f'<iframe style="width:100%;height:800px" srcdoc="{_escape(p)}"></iframe>' if p else '',
                pick, view)


def _escape(path):
    return html.escape(Path(path).read_text(errors='replace'), quote=True)


UPLOAD_CACHE = (600, 3600)  # every 10 min, gradio deletes its uploads and copies older than 1 h (all at exit)


def build(out_dir, models_dir=None, runs_dir=RUNS_DIRS, model=None):
    s = Session(out_dir, models_dir)
    if model is not None and model not in s.models:
        fail(None, f'--model {model}: not a zoo name nor a file under --models-dir', 1)
    with gr.Blocks(title='Real-ESRGAN (Paddle)', delete_cache=UPLOAD_CACHE) as demo:
        gr.Markdown('# Real-ESRGAN (Paddle)')
        with gr.Tab('Upscale'):
            _upscale_tab(s, model or next(iter(s.models)))
        with gr.Tab('Compare'):
            _compare_tab(s)
        with gr.Tab('Finetune reports'):
            _reports_tab(runs_dir)
    return demo, s
