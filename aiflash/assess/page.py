"""The expert voting page: one self-contained HTML file (images inline, no network).

It is written in pieces so that a page with 50 images × 13 pictures never sits in memory whole:
``head()``, then one ``image_block()`` per image (in this expert's order), then ``tail()``.
Each picture carries a downscaled copy for the grid (``data-src``, loaded only when its image is
shown) and the full-resolution copy for the 100 % zoom (``data-full``).

The page contains no team name: only image ids, anonymous labels and the page's ids.
"""

from __future__ import annotations

import html
import json

from .model import CRITERIA, TOP


def _data_url(jpeg: bytes) -> str:
    import base64

    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def image_block(image_id: str, labels: list[str], input_jpegs: tuple[bytes, bytes],
                result_jpegs: dict[str, tuple[bytes, bytes]], size: tuple[int, int]) -> str:
    """One image's section: the low-light input and every anonymous result (display, full)."""
    width, height = size

    def tile(kind: str, label: str, caption: str, jpegs: tuple[bytes, bytes]) -> str:
        small, full = jpegs
        buttons = "" if kind == "input" else (
            "<div class='ranks' role='group' aria-label='rank result " + label + "'>"
            + "".join(f"<button type='button' class='rk' data-rank='{r}'>{_ORDINAL[r]}</button>"
                      for r in range(1, TOP + 1)) + "</div>")
        return (f"<figure class='tile {kind}' data-label='{label}'>"
                f"<div class='frame'><img class='pic' alt='{html.escape(caption)}' width='{width}' "
                f"height='{height}' data-src='{_data_url(small)}' data-full='{_data_url(full)}'>"
                f"<span class='tag'>{html.escape(label if kind == 'result' else 'Input')}</span>"
                f"<span class='placed'></span></div>"
                f"<figcaption>{html.escape(caption)}{buttons}</figcaption></figure>")

    tiles = [tile("input", "input", "Low-light input (weak flash)", input_jpegs)]
    tiles += [tile("result", label, f"Result {label}", result_jpegs[label]) for label in labels]
    return (f"<section class='q' data-image='{html.escape(image_id)}' hidden>"
            f"<div class='grid'>{''.join(tiles)}</div></section>\n")


_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}


def head(config: dict, title: str) -> str:
    """Everything before the image blocks; ``config`` is embedded as JSON for the script."""
    criteria = "".join(f"<li><b>{html.escape(name)}</b> — {html.escape(text)}</li>"
                       for name, text in CRITERIA)
    blob = json.dumps(config, ensure_ascii=True).replace("</", "<\\/")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)} — expert {html.escape(config['expert'])}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<script type='application/json' id='config'>{blob}</script>"
        "<header class='bar'><div class='brand'><b>" + html.escape(title) + "</b>"
        f"<span>Expert {html.escape(config['expert'])} · blind assessment</span></div>"
        "<div class='progress'><div class='meter'><div id='meter'></div></div>"
        "<span id='progress-text'></span></div>"
        "<div class='actions'><label class='who'>Your name <input id='expert-name' "
        "autocomplete='name' placeholder='optional'></label>"
        "<button type='button' id='export' class='primary'>Export votes</button></div></header>"
        "<div id='message' role='status' hidden></div>"
        "<details class='guide' id='guide' open><summary>How to vote · the six criteria</summary>"
        "<p>For each image, compare the anonymous results with the low-light input and pick your "
        "<b>Top-3</b>: <b>1st</b>, <b>2nd</b> and <b>3rd</b> best. Labels are shuffled for every "
        "image. Click a picture to see it at 100 % (← → switch pictures at the same spot, Esc "
        "closes). Your picks are saved in this browser as you go; when every image is done, "
        "press <b>Export votes</b> and send the downloaded file to the organisers.</p>"
        f"<ol class='criteria'>{criteria}</ol></details>"
        "<nav class='strip' id='strip' aria-label='images'></nav>"
        "<main id='images'><div class='qhead'><button type='button' id='prev'>← Previous</button>"
        "<div class='qtitle'><b id='qnum'></b><span id='qpicks'></span></div>"
        "<button type='button' id='next'>Next →</button></div>"
    )


def tail() -> str:
    return (
        "</main>"
        "<div id='zoom' hidden><div class='zbar'><span id='ztitle'></span><span class='zhint'>"
        "100 % · ← → other pictures · Esc or click to close</span><div id='zpick'></div></div>"
        "<div class='zview' id='zview'><img id='zimg' alt=''></div></div>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f5f7;
color:#1b1f24}
.bar{position:sticky;top:0;z-index:5;display:flex;flex-wrap:wrap;gap:.6rem 1.2rem;align-items:center;
justify-content:space-between;background:#1f2a44;color:#fff;padding:.6rem 1.2rem}
.brand{display:flex;flex-direction:column}.brand span{font-size:.78rem;color:#b8c7e6}
.progress{display:flex;align-items:center;gap:.6rem;flex:1;min-width:14rem;max-width:30rem}
.meter{flex:1;height:.5rem;background:rgba(255,255,255,.2);border-radius:999px;overflow:hidden}
#meter{height:100%;width:0;background:#7bd88f;transition:width .2s}#progress-text{font-size:.85rem}
.actions{display:flex;gap:.6rem;align-items:center}.who{font-size:.8rem;color:#d6e0f5}
.who input{margin-left:.3rem;padding:.25rem .4rem;border-radius:6px;border:0;width:9rem}
button{font:inherit;cursor:pointer;border-radius:8px;border:1px solid #c9d3e3;background:#fff;
padding:.35rem .8rem}button.primary{background:#7bd88f;border-color:#7bd88f;color:#0b2e13;
font-weight:700}button.primary.incomplete{background:#e8ecf3;border-color:#e8ecf3;color:#56606b}
#message{margin:.6rem 1.2rem;padding:.5rem .8rem;border-radius:8px;background:#fff4d6;color:#5c4400}
#message.ok{background:#e6f6ec;color:#1a5d2b}
.guide{margin:.8rem 1.2rem;background:#fff;border:1px solid #dde3ea;border-radius:10px;padding:.5rem 1rem;
font-size:.88rem}.guide summary{cursor:pointer;font-weight:600}.criteria{margin:.4rem 0 .3rem;
columns:2 28rem;column-gap:2rem}.criteria li{margin:.15rem 0;break-inside:avoid}
.strip{display:flex;flex-wrap:wrap;gap:.25rem;margin:.4rem 1.2rem}
.strip button{min-width:2.3rem;padding:.2rem .3rem;font-size:.78rem;border-radius:6px}
.strip button.done{background:#e6f6ec;border-color:#9bd3ae;color:#1a5d2b}
.strip button.partial{background:#fff4d6;border-color:#f0cf7a}
.strip button.current{outline:2px solid #4c6ef5;outline-offset:1px;font-weight:700}
main{margin:0 1.2rem 2rem}.qhead{display:flex;align-items:center;justify-content:space-between;gap:1rem;
margin:.6rem 0}.qtitle{display:flex;flex-direction:column;align-items:center;text-align:center}
#qpicks{font-size:.82rem;color:#57606a}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:.8rem}
.tile{margin:0;background:#fff;border:2px solid #e1e6ed;border-radius:10px;overflow:hidden;
display:flex;flex-direction:column}
.tile.input{border-color:#1f2a44;background:#1f2a44;color:#fff}
.frame{position:relative;background:#111;cursor:zoom-in}
.frame img{display:block;width:100%;height:auto;aspect-ratio:auto}
.tag{position:absolute;left:.4rem;top:.4rem;background:rgba(0,0,0,.65);color:#fff;font-weight:700;
padding:.05rem .5rem;border-radius:6px;font-size:.95rem}
.placed{position:absolute;right:.4rem;top:.4rem;font-weight:800;border-radius:999px;padding:.1rem .55rem;
font-size:.9rem;display:none}
.tile[data-rank='1'] .placed{display:block;background:#f7d774;color:#5c4400}
.tile[data-rank='2'] .placed{display:block;background:#dfe4ea;color:#39424e}
.tile[data-rank='3'] .placed{display:block;background:#ecc19c;color:#5a3211}
.tile[data-rank='1']{border-color:#e0b000}.tile[data-rank='2']{border-color:#9aa5b1}
.tile[data-rank='3']{border-color:#c98b55}
figcaption{display:flex;justify-content:space-between;align-items:center;gap:.4rem;padding:.4rem .5rem;
font-size:.85rem}
.ranks{display:flex;gap:.25rem}.rk{padding:.2rem .5rem;font-size:.8rem}
.rk[aria-pressed='true'][data-rank='1']{background:#f7d774;border-color:#e0b000;font-weight:700}
.rk[aria-pressed='true'][data-rank='2']{background:#dfe4ea;border-color:#9aa5b1;font-weight:700}
.rk[aria-pressed='true'][data-rank='3']{background:#ecc19c;border-color:#c98b55;font-weight:700}
#zoom{position:fixed;inset:0;z-index:10;background:rgba(10,12,16,.96);display:flex;flex-direction:column}
#zoom[hidden]{display:none}.zbar{display:flex;gap:1rem;align-items:center;color:#fff;padding:.5rem 1rem;
flex-wrap:wrap}#ztitle{font-weight:700}.zhint{color:#9aa5b1;font-size:.8rem}
#zpick{display:flex;gap:.2rem;flex-wrap:wrap}#zpick button{padding:.1rem .45rem;font-size:.78rem;
background:#2b3445;color:#fff;border-color:#3d4a60}#zpick button.on{background:#4c6ef5}
.zview{flex:1;overflow:auto;cursor:zoom-out}#zimg{display:block;max-width:none;margin:auto}
@media (max-width:700px){.bar{padding:.5rem .7rem}.guide,.strip,main{margin-left:.6rem;margin-right:.6rem}
.grid{grid-template-columns:repeat(auto-fill,minmax(160px,1fr))}.who{display:none}}
"""

_SCRIPT = r"""
(function(){
  'use strict';
  var cfg = JSON.parse(document.getElementById('config').textContent);
  var KEY = 'aiflash-assess:' + cfg.page_id;
  var sections = Array.prototype.slice.call(document.querySelectorAll('section.q'));
  var byId = {};
  sections.forEach(function(s){ byId[s.getAttribute('data-image')] = s; });
  var state = load();
  var current = Math.min(Math.max(state.current || 0, 0), sections.length - 1);
  var strip = document.getElementById('strip');
  var nameBox = document.getElementById('expert-name');

  function load(){
    try { var s = JSON.parse(localStorage.getItem(KEY) || '{}');
          if (s && typeof s === 'object' && s.picks) return s; } catch (e) {}
    return {picks: {}, current: 0, name: ''};
  }
  function save(){ state.current = current; localStorage.setItem(KEY, JSON.stringify(state)); }
  function picks(id){ return state.picks[id] || (state.picks[id] = {}); }
  function complete(id){ var p = state.picks[id] || {}; var n = 0;
    for (var r = 1; r <= cfg.top; r++) if (p[r]) n++; return n === cfg.top; }
  function count(id){ var p = state.picks[id] || {}, n = 0;
    for (var r = 1; r <= cfg.top; r++) if (p[r]) n++; return n; }
  function doneCount(){ return cfg.order.filter(complete).length; }

  cfg.order.forEach(function(id, i){
    var b = document.createElement('button'); b.type = 'button'; b.textContent = i + 1;
    b.title = 'image ' + id; b.addEventListener('click', function(){ show(i); });
    strip.appendChild(b);
  });

  function loadImages(section){
    section.querySelectorAll('img.pic').forEach(function(img){
      if (!img.getAttribute('src')) img.setAttribute('src', img.getAttribute('data-src'));
    });
  }
  function render(){
    sections.forEach(function(s, i){ s.hidden = (s !== byId[cfg.order[current]]); });
    var id = cfg.order[current], section = byId[id], p = state.picks[id] || {};
    loadImages(section);
    section.querySelectorAll('.tile.result').forEach(function(tile){
      var label = tile.getAttribute('data-label'), rank = 0;
      for (var r = 1; r <= cfg.top; r++) if (p[r] === label) rank = r;
      if (rank) { tile.setAttribute('data-rank', rank);
                  tile.querySelector('.placed').textContent = ['', '1st', '2nd', '3rd'][rank]; }
      else tile.removeAttribute('data-rank');
      tile.querySelectorAll('.rk').forEach(function(b){
        b.setAttribute('aria-pressed', String(+b.getAttribute('data-rank') === rank)); });
    });
    document.getElementById('qnum').textContent = 'Image ' + (current + 1) + ' of ' + cfg.order.length;
    var summary = [];
    for (var r = 1; r <= cfg.top; r++) summary.push(['', '1st', '2nd', '3rd'][r] + ': ' + (p[r] || '—'));
    document.getElementById('qpicks').textContent = 'id ' + id + ' · ' + summary.join(' · ');
    Array.prototype.forEach.call(strip.children, function(b, i){
      var iid = cfg.order[i];
      b.className = (complete(iid) ? 'done' : (count(iid) ? 'partial' : ''))
        + (i === current ? ' current' : '');
    });
    var done = doneCount();
    document.getElementById('meter').style.width = (100 * done / cfg.order.length) + '%';
    document.getElementById('progress-text').textContent = done + ' / ' + cfg.order.length + ' images ranked';
    document.getElementById('export').classList.toggle('incomplete', done < cfg.order.length);
    document.getElementById('prev').disabled = current === 0;
    document.getElementById('next').disabled = current === cfg.order.length - 1;
  }
  function show(i){ current = Math.min(Math.max(i, 0), sections.length - 1); save(); render();
                    window.scrollTo(0, Math.min(window.scrollY, strip.offsetTop)); }
  function pick(label, rank){
    var id = cfg.order[current], p = picks(id);
    var had = p[rank] === label;
    for (var r = 1; r <= cfg.top; r++) if (p[r] === label) delete p[r];
    if (!had) p[rank] = label;
    save(); render(); hideMessage();
  }
  sections.forEach(function(section){
    section.addEventListener('click', function(ev){
      var b = ev.target.closest('button.rk');
      if (b) { pick(b.closest('.tile').getAttribute('data-label'), +b.getAttribute('data-rank')); return; }
      var frame = ev.target.closest('.frame');
      if (frame) openZoom(frame.closest('.tile').getAttribute('data-label'));
    });
  });
  document.getElementById('prev').addEventListener('click', function(){ show(current - 1); });
  document.getElementById('next').addEventListener('click', function(){ show(current + 1); });

  // 100 % zoom: the full-resolution picture, scrollable; ←/→ keep the scroll position.
  var zoom = document.getElementById('zoom'), zimg = document.getElementById('zimg');
  var zview = document.getElementById('zview'), zpick = document.getElementById('zpick');
  var zlabels = [], zindex = 0;
  function openZoom(label){
    var tiles = byId[cfg.order[current]].querySelectorAll('.tile');
    zlabels = Array.prototype.map.call(tiles, function(t){ return t.getAttribute('data-label'); });
    zpick.innerHTML = '';
    zlabels.forEach(function(l, i){ var b = document.createElement('button'); b.type = 'button';
      b.textContent = l === 'input' ? 'Input' : l;
      b.addEventListener('click', function(ev){ ev.stopPropagation(); zoomTo(i); }); zpick.appendChild(b); });
    zoom.hidden = false; zoomTo(Math.max(0, zlabels.indexOf(label)));
  }
  function zoomTo(i){
    zindex = (i + zlabels.length) % zlabels.length;
    var label = zlabels[zindex], x = zview.scrollLeft, y = zview.scrollTop;
    var tile = byId[cfg.order[current]].querySelector(".tile[data-label='" + label + "']");
    zimg.src = tile.querySelector('img.pic').getAttribute('data-full');
    document.getElementById('ztitle').textContent = label === 'input' ? 'Low-light input' : 'Result ' + label;
    Array.prototype.forEach.call(zpick.children, function(b, j){ b.className = j === zindex ? 'on' : ''; });
    zview.scrollLeft = x; zview.scrollTop = y;
  }
  function closeZoom(){ zoom.hidden = true; zimg.removeAttribute('src'); }
  zview.addEventListener('click', closeZoom);
  document.addEventListener('keydown', function(ev){
    if (ev.target === nameBox) return;
    if (!zoom.hidden) {
      if (ev.key === 'Escape') closeZoom();
      else if (ev.key === 'ArrowRight') zoomTo(zindex + 1);
      else if (ev.key === 'ArrowLeft') zoomTo(zindex - 1);
      else return;
      ev.preventDefault(); return;
    }
    if (ev.key === 'ArrowRight') show(current + 1);
    else if (ev.key === 'ArrowLeft') show(current - 1);
  });

  nameBox.value = state.name || '';
  nameBox.addEventListener('input', function(){ state.name = nameBox.value; save(); });

  var message = document.getElementById('message');
  function say(text, ok){
    message.textContent = text; message.className = ok ? 'ok' : ''; message.hidden = false;
  }
  function hideMessage(){ if (!message.classList.contains('ok')) message.hidden = true; }
  document.getElementById('export').addEventListener('click', function(){
    var missing = cfg.order.filter(function(id){ return !complete(id); });
    if (missing.length) {
      say(missing.length + ' image(s) still need a full Top-3 (1st, 2nd and 3rd). '
          + 'Taking you to the first one.');
      show(cfg.order.indexOf(missing[0])); return;
    }
    var votes = {};
    cfg.order.forEach(function(id){ var p = state.picks[id]; votes[id] = [p[1], p[2], p[3]]; });
    var out = {format: cfg.votes_format, assessment_id: cfg.assessment_id, page_id: cfg.page_id,
               expert: cfg.expert, expert_name: state.name || '', exported_at: new Date().toISOString(),
               images: cfg.order.length, votes: votes};
    var blob = new Blob([JSON.stringify(out, null, 2) + '\n'], {type: 'application/json'});
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob); a.download = 'votes-' + cfg.expert + '.json';
    document.body.appendChild(a); a.click();
    setTimeout(function(){ URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    say('Votes exported as votes-' + cfg.expert + '.json: send that file to the organisers. '
        + 'Thank you!', true);
  });
  render();
})();
"""
