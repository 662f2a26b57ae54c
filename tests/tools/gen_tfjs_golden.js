// Golden outputs of the TF.js COCO-SSD graph model, computed by TensorFlow.js itself (the
// reference implementation, pure-JS CPU backend), for tests/test_tfjs_import.c.
//
//   npm install @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 \
//               @tensorflow/tfjs-converter@4.22.0
//   cc -O2 -o dump_rgb tests/tools/dump_rgb.c -lm && ./dump_rgb samples/dog.jpg dog.rgb
//   node tests/tools/gen_tfjs_golden.js ../shared/models/coco_ssdlite_mobilenet_v2_tfjs/model.json \
//        dog.rgb 768 576 > tests/data/tfjs_coco_ssd_dog.golden
//
// Output (text): "pixels W H SUM" (the byte sum of the decoded image, so a different JPEG
// decoder shows up as such), "totals SCORE_SUM BOX_SUM" over every anchor, then the
// TOP highest (anchor, class) scores as "score ANCHOR CLASS VALUE" (class = COCO id 1..90),
// then "box ANCHOR YMIN XMIN YMAX XMAX" for every anchor named in a score line.
const fs = require('fs'), path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfconv = require('@tensorflow/tfjs-converter');
const TOP = 300;

async function main() {
  const [modelJson, rgbPath, w, h] = process.argv.slice(2);
  await tf.setBackend('cpu');
  const dir = path.dirname(modelJson);
  const mj = JSON.parse(fs.readFileSync(modelJson));
  const data = Buffer.concat(mj.weightsManifest.flatMap(g => g.paths.map(p => fs.readFileSync(path.join(dir, p)))));
  const handler = {
    load: async () => ({
      modelTopology: mj.modelTopology,
      weightSpecs: mj.weightsManifest.flatMap(g => g.weights),
      weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.length),
    }),
  };
  const model = await tfconv.loadGraphModel(handler);
  const rgb = fs.readFileSync(rgbPath);
  const img = tf.tensor4d(new Int32Array(rgb), [1, +h, +w, 3], 'int32');
  const [st, bt] = await model.executeAsync({image_tensor: img},
                                            ['Postprocessor/Slice', 'Postprocessor/ExpandDims_1']);
  const scores = await st.data(), boxes = await bt.data();
  const C = st.shape[2], P = st.shape[1];
  let pix = 0, ss = 0, bs = 0;
  for (const v of rgb) pix += v;
  for (const v of scores) ss += v;
  for (const v of boxes) bs += v;
  const out = [`pixels ${w} ${h} ${pix}`, `totals ${ss.toPrecision(10)} ${bs.toPrecision(10)}`];
  const idx = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b).slice(0, TOP);
  const anchors = new Set();
  for (const i of idx) {
    const p = Math.floor(i / C), c = (i % C) + 1;
    anchors.add(p);
    out.push(`score ${p} ${c} ${scores[i].toPrecision(9)}`);
  }
  for (const p of [...anchors].sort((a, b) => a - b))
    out.push(`box ${p} ` + Array.from(boxes.slice(4 * p, 4 * p + 4)).map(v => v.toPrecision(9)).join(' '));
  process.stdout.write(out.join('\n') + '\n');
}
main().catch(e => { console.error(e); process.exit(1); });
