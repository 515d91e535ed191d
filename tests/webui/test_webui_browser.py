"""End to end in a real browser: Debian's Chromium, headless, drives tools/webui.py on a free port.

It runs whenever Chromium, chromedriver, selenium and gradio are installed (`apt-get install chromium
chromium-driver`, `pip install -r requirements-test.txt -r requirements-webui.txt`), and skips with one line
otherwise.

Why it used to hang (2 runs of 4): it waited for the text "photo.png" in the upload box. While the upload is
in flight gradio shows "Uploading 1 file... photo.png", but the finished file row splits the name into
"photo" and ".png" cells, so when the upload finished before the first poll the text never appeared and the
wait ran out. It now waits for the finished row's download link. Every step has its own time limit, a
watchdog ends the browser and the app if the whole test overruns, and a failure reports the step, the page's
status, the browser console, the app log and chromedriver's log, with a screenshot beside them.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import pytest
from tests.cli_checks import a_line

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
DRIVER = shutil.which('chromedriver')
if not (CHROMIUM and DRIVER):
    pytest.skip('no browser for the web app test: apt-get install chromium chromium-driver', allow_module_level=True)
pytest.importorskip('gradio', reason='needs gradio: pip install -r requirements-webui.txt')
pytest.importorskip('selenium', reason='needs selenium: pip install -r requirements-test.txt')

APP_START_S = 120  # importing paddle and gradio under a load of ~15 on 2 cores took 40 s
PAGE_LOAD_S = 60
STEP_S = 30
RUN_S = 90
TOTAL_S = 300  # the watchdog: past this the browser and the app are killed and the test fails


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _tail(path, n=30):
    try:
        return '\n'.join(Path(path).read_text(errors='replace').splitlines()[-n:])
    except OSError:
        return '(none)'


class App:
    """tools/webui.py in its own process group, its output in a log file (a pipe nobody reads can fill and block it)."""

    def __init__(self, tmp_path, args):
        self.port, self.log = _free_port(), tmp_path / 'app.log'
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False', GRADIO_TEMP_DIR=str(tmp_path / 'gradio-tmp'))
        with open(self.log, 'w') as log:
            self.proc = subprocess.Popen([sys.executable, 'tools/webui.py', '--port', str(self.port), *args],
                                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.url = f'http://127.0.0.1:{self.port}/'

    def wait_ready(self, timeout=APP_START_S):
        t = time.monotonic()
        while time.monotonic() - t < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f'the web app exited ({self.proc.returncode}):\n{_tail(self.log)}')
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return time.monotonic() - t
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f'the web app did not answer {self.url} within {timeout} s:\n{_tail(self.log)}')

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)


class Browser:
    """Headless Chromium through chromedriver, with time limits on everything and diagnostics on failure."""

    def __init__(self, tmp_path, app):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        self.tmp, self.app, self.step = tmp_path, app, 'starting chromedriver'
        opt = webdriver.ChromeOptions()
        opt.binary_location = CHROMIUM
        for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
                  '--disable-extensions', '--window-size=1280,1000', f'--user-data-dir={tmp_path / "chrome"}'):
            opt.add_argument(a)
        opt.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
        self.driver_log = tmp_path / 'chromedriver.log'
        # its own process group, which the browser's processes join: the watchdog can end them all at once
        self.service = Service(DRIVER, log_output=str(self.driver_log), popen_kw={'start_new_session': True})
        self.driver, self._opt, self._chrome = None, opt, webdriver.Chrome

    def open(self):
        self.driver = self._chrome(service=self.service, options=self._opt)
        self.driver.set_page_load_timeout(PAGE_LOAD_S)
        self.driver.set_script_timeout(STEP_S)
        return self

    def until(self, step, cond, timeout=STEP_S):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait
        self.step = step
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(cond)
        except TimeoutException:
            raise AssertionError(f'waited {timeout} s for {step}') from None

    def report(self):
        """What the page, the browser and the app were doing: for the failure message."""
        from selenium.webdriver.common.by import By
        parts = [f'step: {self.step}', f'chromedriver log:\n{_tail(self.driver_log, 15)}',
                 f'app log:\n{_tail(self.app.log)}']
        try:
            self.driver.save_screenshot(str(self.tmp / 'failure.png'))
            parts.append(f'screenshot: {self.tmp / "failure.png"}')
            found = self.driver.find_elements(By.ID, 'upload')
            parts.append(f'#upload: {found[0].text!r}' if found else '#upload: not on the page')
            parts.append(f'#status: {_status(self)!r}')
            parts.append('browser console:\n' + '\n'.join(str(e) for e in self.driver.get_log('browser')[-20:]))
        except Exception as e:  # noqa: BLE001  the browser may be the thing that died
            parts.append(f'(browser unreachable: {type(e).__name__})')
        return '\n'.join(parts)

    def kill(self):
        """The watchdog's way out: end chromedriver and the browser (the pending call then fails) and the app."""
        proc = getattr(self.service, 'process', None)
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.app.stop()

    def quit(self):
        try:
            if self.driver is not None:
                self.driver.quit()
        except Exception:  # noqa: BLE001  already dead (the watchdog); the test's own error is the one to see
            pass
        finally:
            self.service.stop()


def _status(b):
    from selenium.webdriver.common.by import By
    return b.driver.find_element(By.CSS_SELECTOR, '#status textarea').get_attribute('value') or ''


def dropdown_choices(b, elem_id):
    """The options a user sees on opening the dropdown ``#elem_id`` (then closed again with Escape)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    b.step = f'opening the #{elem_id} dropdown'
    b.until(f'the #{elem_id} box', lambda d: d.find_elements(By.CSS_SELECTOR, f'#{elem_id} input'))  # the page renders
    box = b.driver.find_element(By.CSS_SELECTOR, f'#{elem_id} input')  # in parts: a busy machine shows it later
    box.click()
    sel = f'#{elem_id} ul[role=listbox] li'
    b.until(f'the #{elem_id} options', lambda d: d.find_elements(By.CSS_SELECTOR, sel))
    names = [li.get_attribute('aria-label') or li.text.strip() for li in b.driver.find_elements(By.CSS_SELECTOR, sel)]
    box.send_keys(Keys.ESCAPE)
    return names


def drive_upscale(b, src, timeout=RUN_S):
    """Open the page, upload ``src``, press Upscale, wait for the slider: what a user does."""
    from selenium.webdriver.common.by import By
    b.step = 'loading the page'
    b.driver.get(b.app.url)
    b.until('the upload box', lambda d: d.find_elements(By.CSS_SELECTOR, '#upload input[type=file]'))
    b.models = dropdown_choices(b, 'model')
    b.driver.find_element(By.CSS_SELECTOR, '#upload input[type=file]').send_keys(str(src))
    # the finished upload's row: a download link served by the app (not the "Uploading 1 file..." state)
    b.until('the upload to finish', lambda d: d.find_elements(By.CSS_SELECTOR, f'#upload a[download="{src.name}"]'))
    b.driver.find_element(By.ID, 'run').click()
    b.until('a status line', lambda d: _status(b), timeout)
    assert not _status(b).startswith('error'), _status(b)
    b.until('two images in the slider', lambda d: len(d.find_elements(By.CSS_SELECTOR, '#slider img')) >= 2)
    return _status(b)


def test_upload_run_x4_and_see_the_slider(tiny_models, photo, tmp_path):
    from selenium.webdriver.common.by import By
    t0 = time.monotonic()
    mdir, out = tmp_path / 'models', tmp_path / 'out'
    mdir.mkdir()
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'tiny_x4.pdparams')
    from tests.nets import save_tiny  # a saved discriminator beside it: not an upscaler, not offered
    save_tiny(mdir / 'net_d_100.pdparams', {'type': 'UNetDiscriminatorSN', 'num_in_ch': 3, 'num_feat': 4})
    src = tmp_path / 'photo.png'
    cv2.imwrite(str(src), photo[:64, :80])
    app = App(tmp_path, ['--models-dir', str(mdir), '-m', 'tiny_x4.pdparams', '-o', str(out),
                         '--runs-dir', str(tmp_path)])
    b = Browser(tmp_path, app)
    watchdog = threading.Timer(TOTAL_S, b.kill)
    watchdog.start()
    try:
        start = app.wait_ready()
        try:
            status = drive_upscale(b.open(), src)
            assert status.startswith('1 of 1'), status
            # the model list: the zoo's upscalers, each saying what it is for (and the pip line it needs when its
            # weight wheel is missing), and the user's generator; no VGG19 or discriminator
            from realesrgan_paddle.models import zoo
            from realesrgan_paddle.models.zoo import zoo_guide
            assert b.models == [zoo_guide.label(zoo.get_entry(n)) for n in zoo.list_upscalers()] + \
                ['tiny_x4.pdparams'], b.models
            imgs = b.driver.find_elements(By.CSS_SELECTOR, '#slider img')
            assert len({i.get_attribute('src') for i in imgs}) >= 2
            assert b.driver.find_elements(By.CSS_SELECTOR, '#slider .slider-wrap .outer')  # the draggable divider
            b.driver.save_screenshot(str(tmp_path / 'webui.png'))
        except Exception as e:
            raise AssertionError(f'{type(e).__name__}: {e}\n{b.report()}') from None
        assert (tmp_path / 'webui.png').stat().st_size > 10000
        results = list(out.glob('photo_out_*.png'))
        assert len(results) == 1 and cv2.imread(str(results[0])).shape == (256, 320, 3)
        log = app.log.read_text(errors='replace')
        # our one line with the address, not gradio's banner telling the user to edit a launch() call
        assert a_line(log, 'webui:', f'http://127.0.0.1:{app.port}/') and 'share=True' not in log, log
        print(f'app ready in {start:.1f} s, test {time.monotonic() - t0:.1f} s')
    finally:
        watchdog.cancel()
        b.quit()
        app.stop()
