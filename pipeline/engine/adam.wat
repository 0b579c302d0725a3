;; Adam's update over float32 arrays in this module's memory, four lanes at a time (WebAssembly SIMD), in place:
;;   m = m*b1 + g*c1;  v = v*b2 + (g*g)*c2;  w = (m / (sqrt(v) + epsHat)) * stepSize + w
;; with c1 = 1-b1, c2 = 1-b2 and stepSize, epsHat from adamScalars (train-graph.ts). Every operation rounds to
;; float32 in the order the 'graph' placement's ONNX ops use, so both placements give the same bits.
;; Arrays are 16-byte aligned byte offsets; n is the element count (a scalar loop takes the last n mod 4).
;; Compiled by scripts/build-adam-wasm.ts into adam-wasm.ts; test/engine-adam.test.ts checks the two agree.
(module
  (memory (export "memory") 0)
  (func (export "adam")
    (param $w i32) (param $m i32) (param $v i32) (param $g i32) (param $n i32)
    (param $b1 f32) (param $b2 f32) (param $c1 f32) (param $c2 f32) (param $step f32) (param $eps f32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $vb1 v128) (local $vb2 v128) (local $vc1 v128) (local $vc2 v128) (local $vstep v128) (local $veps v128)
    (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $vb1 (f32x4.splat (local.get $b1)))
    (local.set $vb2 (f32x4.splat (local.get $b2)))
    (local.set $vc1 (f32x4.splat (local.get $c1)))
    (local.set $vc2 (f32x4.splat (local.get $c2)))
    (local.set $vstep (f32x4.splat (local.get $step)))
    (local.set $veps (f32x4.splat (local.get $eps)))
    (local.set $end (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $lanes
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $o))))
        (local.set $mv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (local.get $vb1))
          (f32x4.mul (local.get $gv) (local.get $vc1))))
        (local.set $vv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (local.get $vb2))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (local.get $vc2))))
        (v128.store (i32.add (local.get $m) (local.get $o)) (local.get $mv))
        (v128.store (i32.add (local.get $v) (local.get $o)) (local.get $vv))
        (v128.store (i32.add (local.get $w) (local.get $o))
          (f32x4.add
            (f32x4.mul (f32x4.div (local.get $mv) (f32x4.add (f32x4.sqrt (local.get $vv)) (local.get $veps))) (local.get $vstep))
            (v128.load (i32.add (local.get $w) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $lanes)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
          (f32.mul (local.get $gs) (local.get $c1))))
        (local.set $vs (f32.add
          (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
        (f32.store (i32.add (local.get $m) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $v) (local.get $o)) (local.get $vs))
        (f32.store (i32.add (local.get $w) (local.get $o))
          (f32.add
            (f32.mul (f32.div (local.get $ms) (f32.add (f32.sqrt (local.get $vs)) (local.get $eps))) (local.get $step))
            (f32.load (i32.add (local.get $w) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))))
