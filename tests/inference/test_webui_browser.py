"""End to end in a real browser: Debian's Chromium, headless, drives tools/webui.py on a free port.

Opt-in: RESR_BROWSER_TEST=1, with `pip install -r requirements-webui.txt selenium` and `apt-get install
chromium chromium-driver`. It is not in CI yet: it passed 2 of 4 runs on the development machine, and the other
two hung until their 240 s waits ran out (the hanging wait is not found yet)."""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[2]
if os.environ.get('RESR_BROWSER_TEST') != '1':
    pytest.skip('the browser test is opt-in (it can hang): set RESR_BROWSER_TEST=1', allow_module_level=True)
pytest.importorskip('gradio', reason='needs gradio: pip install -r requirements-webui.txt')
pytest.importorskip('selenium', reason='needs selenium: pip install selenium')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
DRIVER = shutil.which('chromedriver')
if not (CHROMIUM and DRIVER):
    pytest.skip('needs a browser: apt-get install chromium chromium-driver', allow_module_level=True)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _wait_http(port, proc, timeout=180):
    t = time.time()
    while time.time() - t < timeout:
        if proc.poll() is not None:
            raise AssertionError('the web app exited: ' + proc.stdout.read()[-2000:])
        try:
            socket.create_connection(('127.0.0.1', port), 1).close()
            return
        except OSError:
            time.sleep(1)
    raise AssertionError('the web app did not start')


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opt = webdriver.ChromeOptions()
    opt.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1280,1000'):
        opt.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=opt)


def test_upload_run_x4_and_see_the_slider(tiny_models, photo, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    mdir, out = tmp_path / 'models', tmp_path / 'out'
    mdir.mkdir()
    shutil.copy(tiny_models['srvgg_x4'], mdir / 'tiny_x4.pdparams')
    src = tmp_path / 'photo.png'
    cv2.imwrite(str(src), photo[:64, :80])
    port = _free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False')
    proc = subprocess.Popen([sys.executable, 'tools/webui.py', '--port', str(port), '--models-dir', str(mdir),
                             '-m', 'tiny_x4.pdparams', '-o', str(out), '--runs-dir', str(tmp_path)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    driver = None
    try:
        _wait_http(port, proc)
        driver = _browser()
        driver.get(f'http://127.0.0.1:{port}/')
        wait = WebDriverWait(driver, 240)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#upload input[type=file]'))
        driver.find_element(By.CSS_SELECTOR, '#upload input[type=file]').send_keys(str(src))
        wait.until(lambda d: 'photo.png' in d.find_element(By.ID, 'upload').text)
        driver.find_element(By.ID, 'run').click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '#slider img')) >= 2)
        wait.until(lambda d: '1 of 1' in (d.find_element(By.CSS_SELECTOR, '#status textarea').get_attribute('value') or ''))
        imgs = driver.find_elements(By.CSS_SELECTOR, '#slider img')
        assert len({i.get_attribute('src') for i in imgs}) >= 2
        assert driver.find_elements(By.CSS_SELECTOR, '#slider .slider-wrap .outer')  # the draggable divider
        driver.save_screenshot(str(tmp_path / 'webui.png'))
        assert (tmp_path / 'webui.png').stat().st_size > 10000
        if os.environ.get('WEBUI_SCREENSHOT'):  # how docs/webui.png was made
            shutil.copy(tmp_path / 'webui.png', os.environ['WEBUI_SCREENSHOT'])
        results = list(out.glob('photo_out_*.png'))
        assert len(results) == 1 and cv2.imread(str(results[0])).shape == (256, 320, 3)
    finally:
        if driver is not None:
            driver.quit()
        proc.terminate()
        proc.wait(30)
