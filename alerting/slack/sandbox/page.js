(function(){
  const feed = () => document.getElementById('feed');
  let last = '', lastModal = '';
  function status(text){ document.getElementById('status').textContent = text || ''; }
  async function post(url, body){
    const r = await fetch(url, {method:'POST', headers:{'Content-Type':'application/json'},
                                body: JSON.stringify(body)});
    let data = {}; try { data = await r.json(); } catch (e) {}
    if (!r.ok || data.ok === false) status(url + ': ' + (data.error || data.detail || data.status || r.status));
    else status('');
    return data;
  }
  async function refresh(){
    let data;
    try { data = await (await fetch('/sandbox/page')).json(); } catch (e) { return; }
    if (data.html !== last) {
      const open = new Set([...document.querySelectorAll('details[open][data-key]')].map(d => d.dataset.key));
      const f = feed(), atBottom = f.scrollHeight - f.scrollTop - f.clientHeight < 40;
      f.innerHTML = data.html; last = data.html;
      document.querySelectorAll('details[data-key]').forEach(d => { if (open.has(d.dataset.key)) d.open = true; });
      if (atBottom) f.scrollTop = f.scrollHeight;
      const sel = document.getElementById('channel'), keep = sel.value;
      sel.innerHTML = data.channels.map(c => '<option>' + c.replace(/[<&"]/g, '') + '</option>').join('');
      if (keep && data.channels.includes(keep)) sel.value = keep;
    }
    if (data.modal_id !== lastModal) {
      document.getElementById('modal').innerHTML = data.modal || ''; lastModal = data.modal_id;
    }
  }
  document.addEventListener('click', async (ev) => {
    const b = ev.target.closest('[data-click]');
    if (b) { ev.preventDefault(); await post('/sandbox/click', JSON.parse(b.dataset.click)); return refresh(); }
    const s = ev.target.closest('[data-shortcut]');
    if (s) { ev.preventDefault(); await post('/sandbox/shortcut', JSON.parse(s.dataset.shortcut)); return refresh(); }
    const c = ev.target.closest('[data-close]');
    if (c) { ev.preventDefault(); await post('/sandbox/views/' + c.dataset.close + '/close', {}); document.getElementById('modal').innerHTML = ''; lastModal = ''; return refresh(); }
  });
  document.addEventListener('change', async (ev) => {
    const o = ev.target.closest('select[data-overflow]');
    if (o && o.value) { const spec = JSON.parse(o.dataset.overflow); spec.option = o.value; o.value='';
      await post('/sandbox/click', spec); refresh(); }
  });
  document.addEventListener('submit', async (ev) => {
    const form = ev.target;
    if (form.id === 'composer') {
      ev.preventDefault();
      const input = document.getElementById('text'), text = input.value.trim();
      if (!text.startsWith('/')) { status('Only slash commands can be sent from here, e.g. /alerts help'); return; }
      const space = text.indexOf(' ');
      const command = space < 0 ? text : text.slice(0, space), rest = space < 0 ? '' : text.slice(space + 1);
      input.value = '';
      await post('/sandbox/command', {channel: document.getElementById('channel').value, command, text: rest});
      return refresh();
    }
    if (form.dataset.view) {
      ev.preventDefault();
      const values = {}; new FormData(form).forEach((v, k) => { values[k] = String(v); });
      const data = await post('/sandbox/views/' + form.dataset.view + '/submit', {values});
      form.querySelectorAll('.err').forEach(e => e.textContent = '');
      for (const [k, v] of Object.entries(data.errors || {})) {
        const e = form.querySelector('[data-err="' + k + '"]'); if (e) e.textContent = v;
      }
      if (data.ok) { document.getElementById('modal').innerHTML = ''; lastModal = ''; }
      return refresh();
    }
  });
  refresh(); setInterval(refresh, 700);
})();
