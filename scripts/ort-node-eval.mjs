// Top-1 of an image classifier in ONNX Runtime's Node.js binding (onnxruntime-node), whose
// versions reach back to 1.8: scripts/old-ort-check.sh runs it with an older runtime than the
// one sharpq links, to show which of its exports that runtime loads.
// usage: ORTV=VERSION node scripts/ort-node-eval.mjs MODEL.onnx IMAGES_U8.npy LABELS.npy MEAN STD
// (IMAGES: uint8 [N, H, W] or [N, 1, H, W] grayscale; LABELS: int64 [N])
import ort from 'onnxruntime-node';
import fs from 'fs';
function npy(path) {
  const b = fs.readFileSync(path);
  const hlen = b.readUInt16LE(8);
  const header = b.slice(10, 10 + hlen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter(s => s.trim()).map(Number);
  const data = b.slice(10 + hlen);
  let arr;
  if (descr === '|u1') arr = new Uint8Array(data.buffer, data.byteOffset, data.length);
  else if (descr === '<i8') arr = new BigInt64Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length));
  else throw new Error('dtype ' + descr);
  return { arr, shape };
}
const [model, imgs, labs, mean, std] = process.argv.slice(2);
let sess;
try {
  sess = await ort.InferenceSession.create(model);
} catch (e) {
  console.log(`${model}: ONNX Runtime ${process.env.ORTV} refuses it: ${String(e.message).split('\n')[0]}`);
  process.exit(1);
}
const X = npy(imgs), Y = npy(labs);
const n = X.shape[0], per = X.arr.length / n, batch = 100;
let correct = 0;
for (let i = 0; i < n; i += batch) {
  const m = Math.min(batch, n - i);
  const x = new Float32Array(m * per);
  for (let j = 0; j < m * per; j++) x[j] = (X.arr[i * per + j] / 255 - mean) / std;
  const out = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', x, [m, 1, X.shape[X.shape.length - 2], X.shape[X.shape.length - 1]]) });
  const y = out[sess.outputNames[0]].data, c = y.length / m;
  for (let k = 0; k < m; k++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (y[k * c + j] > y[k * c + best]) best = j;
    if (BigInt(best) === Y.arr[i + k]) correct++;
  }
}
console.log(`${model}: ONNX Runtime ${process.env.ORTV}: top-1 ${(100 * correct / n).toFixed(2)}% on ${n} images`);
