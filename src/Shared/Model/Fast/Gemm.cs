using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace DistRnn.Model.Fast;

/// <summary>
/// C += A·B, blocked and vectorised, with results that do not depend on the machine:
///
///   C[m, n] = fma(A(m, depth−1), B[depth−1, n], … fma(A(m, 1), B[1, n], fma(A(m, 0), B[0, n], C[m, n])) …)
///
/// i.e. every output element is one sequential chain of fused multiply-adds over kk = 0, 1, …, depth−1. The
/// vectors run across n (independent outputs), never across the sum, so neither the vector width, nor the
/// tile or cache-block sizes, nor the number of rows processed together change a single bit: a scalar loop
/// with Math.FusedMultiplyAdd gives the same result. FMA is exactly rounded by IEEE 754 (one rounding),
/// and Vector256.FusedMultiplyAdd is documented as "(left * right) + addend, rounded as one ternary
/// operation" on every platform — also where it falls back to software — so the bits hold on AVX2,
/// AVX-512, Arm and hosts without SIMD alike. (Vector256.MultiplyAddEstimate would not.) For the same
/// reason the 512-bit path taken on AVX-512 hosts gives exactly the bits of the 256-bit one.
///
/// A(m, kk) = a[m·ars + kk·aks]: (ars, aks) = (lda, 1) reads A row-major, (1, lda) reads Aᵀ, so the same
/// kernel computes X·Y and Xᵀ·Y. C is rows × cols, the sum runs over depth; cols must be a multiple of
/// <see cref="NR"/> (callers pad their leading dimensions), rows and depth are arbitrary.
/// </summary>
internal static unsafe class Gemm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>
    /// Use 512-bit vectors where the hardware has them (AVX-512). The bits are the same either way — lanes
    /// are independent outputs — only the speed and the padding differ (tests switch it to prove that).
    /// </summary>
    public static readonly bool Wide = Vector512.IsHardwareAccelerated;

    /// <summary>Columns of one micro-tile: two 512-bit vectors (32 floats / 16 doubles) or three 256-bit ones (24 / 12).</summary>
    public static int Nr(bool wide) => wide ? 2 * Vector512<T>.Count : 3 * Vector256<T>.Count;

    /// <summary>Columns of one micro-tile on this host.</summary>
    public static int NR => Nr(Wide);

    private const int DepthBlock = 256;  // depth of one cache block: a DepthBlock×NR micro-panel of packed B stays in L1
    private const int RowBlock = 128;    // rows of A per cache block (the packed RowBlock×DepthBlock block of A stays in L2)

    /// <summary>Rounds n up to a multiple of <see cref="NR"/>.</summary>
    public static int Pad(int n, bool wide) => (n + Nr(wide) - 1) / Nr(wide) * Nr(wide);

    public static int Pad(int n) => Pad(n, Wide);

    /// <summary>
    /// Row stride for matrices of n (padded) columns: one cache line more when the padded row is a multiple of
    /// 256 bytes, so that consecutive rows do not fall into the same few cache sets (a 1, 2 or 4 KiB stride
    /// maps a whole panel onto 4, 2 or 1 of the L1's 64 sets). Only the speed depends on it.
    /// </summary>
    public static int Stride(int n, bool wide)
    {
        int padded = Pad(n, wide);
        return padded * Unsafe.SizeOf<T>() % 256 == 0 ? padded + 64 / Unsafe.SizeOf<T>() : padded;
    }

    /// <summary>Span form of <see cref="Run(T*, int, int, T*, int, T*, int, int, int, int, bool)"/> (tests, benchmarks).</summary>
    public static void Run(ReadOnlySpan<T> a, int ars, int aks, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, int rows, int cols, int depth, bool wide)
    {
        if (rows <= 0 || depth <= 0) return;
        if ((long)(rows - 1) * ars + (long)(depth - 1) * aks >= a.Length || (long)(depth - 1) * ldb + cols > b.Length || (long)(rows - 1) * ldc + cols > c.Length || cols % Nr(wide) != 0)
            throw new ArgumentException("matrix shapes do not fit the spans");
        fixed (T* pa = a) fixed (T* pb = b) fixed (T* pc = c) Run(pa, ars, aks, pb, ldb, pc, ldc, rows, cols, depth, wide);
    }

    /// <summary>Span form of <see cref="RunSegments(T*, int, int, T*, int, T*, int, int, int, ReadOnlySpan{Segment}, bool)"/>.</summary>
    public static void RunSegments(ReadOnlySpan<T> a, int ars, int aks, ReadOnlySpan<T> b, int ldb, Span<T> c, int ldc, int rows, int cols, ReadOnlySpan<Segment> segments, bool wide)
    {
        if (rows <= 0) return;
        if ((long)(rows - 1) * ldc + cols > c.Length || cols % Nr(wide) != 0) throw new ArgumentException("matrix shapes do not fit the spans");
        foreach (var g in segments)
            if (g.Depth > 0 && (g.A < 0 || g.B < 0 || g.A + (long)(rows - 1) * ars + (long)(g.Depth - 1) * aks >= a.Length || g.B + (long)(g.Depth - 1) * ldb + cols > b.Length))
                throw new ArgumentException("a segment does not fit the spans");
        fixed (T* pa = a) fixed (T* pb = b) fixed (T* pc = c) RunSegments(pa, ars, aks, pb, ldb, pc, ldc, rows, cols, segments, wide);
    }

    /// <summary>Span form of <see cref="RunPackedB(T*, int, int, T*, T*, int, int, int, int, bool)"/>.</summary>
    public static void RunPackedB(ReadOnlySpan<T> a, int ars, int aks, ReadOnlySpan<T> packedB, Span<T> c, int ldc, int rows, int cols, int depth, bool wide)
    {
        if (rows <= 0 || depth <= 0) return;
        if ((long)(rows - 1) * ars + (long)(depth - 1) * aks >= a.Length || PackedBLength(cols, depth) > packedB.Length || (long)(rows - 1) * ldc + cols > c.Length || cols % Nr(wide) != 0)
            throw new ArgumentException("matrix shapes do not fit the spans");
        fixed (T* pa = a) fixed (T* pb = packedB) fixed (T* pc = c) RunPackedB(pa, ars, aks, pb, pc, ldc, rows, cols, depth, wide);
    }

    /// <summary>Span form of <see cref="PackAllB(T*, int, int, int, bool, T*)"/>: B (depth × cols, row stride ldb) into <paramref name="dst"/>.</summary>
    public static void PackAllB(ReadOnlySpan<T> b, int ldb, int cols, int depth, bool wide, Span<T> dst)
    {
        if (depth <= 0) return;
        if ((long)(depth - 1) * ldb + cols > b.Length || PackedBLength(cols, depth) > dst.Length || cols % Nr(wide) != 0)
            throw new ArgumentException("matrix shapes do not fit the spans");
        fixed (T* pb = b) fixed (T* pd = dst) PackAllB(pb, ldb, cols, depth, wide, pd);
    }

    /// <summary>
    /// Rows of one micro-tile: 4 on the 256-bit path (4×3 accumulators + 3 B vectors + 1 broadcast = the 16 ymm
    /// registers of AVX2), 8 on the 512-bit one (8×2 accumulators of the 32 zmm registers).
    /// </summary>
    private static int Mr(bool wide) => wide ? 8 : 4;

    /// <summary>
    /// Per-thread packing buffers (GotoBLAS/BLIS style), reused across calls: nothing is allocated in steady
    /// state, they only grow. Pinned, so the pointers stay valid; the pointers are rounded up to 64 bytes so
    /// that no vector load of a packed panel straddles a cache line.
    ///   packed B: kc × cols as cols/NR contiguous micro-panels of kc×NR (row kk of a panel at kk·NR);
    ///   packed A: RowBlock × kc as ⌈rows/MR⌉ micro-panels of kc×MR (A(m0 + i, k0 + kk) at kk·MR + i), the rows
    ///             past the end zero-filled;
    ///   edge C:   an MR×NR tile for the last, partial row tile.
    /// Packing only copies values; every element's chain of FMAs is untouched (see the class comment).
    /// </summary>
    [ThreadStatic] private static T[]? t_packB, t_packA, t_edge;

    private static T* Buffer(ref T[]? buffer, long length)
    {
        if (buffer is null || buffer.Length < length + AlignPad)
            buffer = GC.AllocateUninitializedArray<T>((int)Math.Max(length + AlignPad, (buffer?.Length ?? 0) * 3L / 2), pinned: true);
        return (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer)) + AlignSkip(buffer);
    }

    /// <summary>Values a pinned buffer needs beyond its length so that it can start on a 64-byte boundary.</summary>
    public static int AlignPad => 64 / Unsafe.SizeOf<T>();

    /// <summary>Values to skip from the start of a pinned array to its first 64-byte boundary (less than <see cref="AlignPad"/>).</summary>
    public static int AlignSkip(T[] pinned)
    {
        nint at = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        return (int)(((64 - (at & 63)) & 63) / Unsafe.SizeOf<T>());
    }

    /// <param name="wide">the 512-bit path (needs cols a multiple of Nr(true)); false: the 256-bit one</param>
    public static void Run(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int rows, int cols, int depth, bool wide)
    {
        if (rows <= 0 || depth <= 0) return;
        if (rows < PackFrom) { RunInPlace(a, ars, aks, b, ldb, c, ldc, rows, cols, depth, wide); return; }
        Segment whole = new(0, 0, depth);
        RunPacked(a, ars, aks, b, ldb, c, ldc, rows, cols, new ReadOnlySpan<Segment>(&whole, 1), depth, wide);
    }

    /// <summary>
    /// A run of depth rows of a product whose depth is cut into pieces: A(m, kk) = a[A + m·ars + kk·aks] and B's row kk
    /// at b + B + kk·ldb, for kk = 0 .. Depth − 1. A weight gradient Σ over a shard's sequences of H_{t−1}ᵀ dA_t is one
    /// product of one segment per sequence.
    /// </summary>
    public readonly record struct Segment(long A, long B, int Depth);

    /// <summary>
    /// C += A·B over the depth the segments give one after another, as one chain per element: the bits of
    /// <see cref="Run(T*, int, int, T*, int, T*, int, int, int, int, bool)"/> called segment by segment (each continuing
    /// from the C the one before stored), with B packed and C passed over once per depth block rather than once per
    /// segment.
    /// </summary>
    public static void RunSegments(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int rows, int cols, ReadOnlySpan<Segment> segments, bool wide)
    {
        long total = 0;
        foreach (var g in segments) total += Math.Max(0, g.Depth);
        if (rows <= 0 || total == 0) return;
        if (rows < PackFrom)
        {
            foreach (var g in segments)
                if (g.Depth > 0) RunInPlace(a + g.A, ars, aks, b + g.B, ldb, c, ldc, rows, cols, g.Depth, wide);
            return;
        }
        RunPacked(a, ars, aks, b, ldb, c, ldc, rows, cols, segments, total, wide);
    }

    /// <summary>
    /// The packed path (GotoBLAS/BLIS style): per depth block, B's rows packed into micro-panels, then per row block A's,
    /// then micro-tiles. Depth blocks in ascending order, each continuing from the C the previous one stored: the chains
    /// stay whole. A depth block may span segments; packing only gathers values, so that changes no bit.
    /// </summary>
    private static void RunPacked(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int rows, int cols, ReadOnlySpan<Segment> segments, long depth, bool wide)
    {
        int nr = Nr(wide), mr = Mr(wide);
        int kcMax = (int)Math.Min(DepthBlock, depth), mcMax = Math.Min(RowBlock, (rows + mr - 1) / mr * mr);
        T* packB = Buffer(ref t_packB, (long)kcMax * cols);
        T* packA = Buffer(ref t_packA, (long)kcMax * mcMax);
        T* edge = Buffer(ref t_edge, mr * nr);
        nint* aRow = stackalloc nint[DepthBlock], bRow = stackalloc nint[DepthBlock];  // where A(0, kk) and B's row kk of the block lie
        int s = 0, j = 0;
        for (long k0 = 0; k0 < depth; k0 += DepthBlock)
        {
            int kc = (int)Math.Min(DepthBlock, depth - k0);
            for (int kk = 0; kk < kc; kk++, j++)
            {
                while (j >= segments[s].Depth) { s++; j = 0; }
                aRow[kk] = (nint)(a + segments[s].A + (long)j * aks);
                bRow[kk] = (nint)(b + segments[s].B + (long)j * ldb);
            }
            PackB(bRow, cols, kc, nr, packB);
            for (int m0 = 0; m0 < rows; m0 += RowBlock)
            {
                int mc = Math.Min(RowBlock, rows - m0);
                PackA(aRow, (long)m0 * ars, ars, mc, kc, mr, packA);
                for (int n0 = 0; n0 < cols; n0 += nr)
                {
                    T* bp = packB + (long)n0 * kc;  // micro-panel n0/nr: kc·nr elements each
                    for (int i = 0; i < mc; i += mr)
                    {
                        T* ap = packA + (long)i * kc, ct = c + (long)(m0 + i) * ldc + n0;
                        int m = Math.Min(mr, mc - i);
                        Prefetch(ct + (long)mr * ldc, ldc, Math.Min(mr, mc - i - mr), nr);
                        if (m == mr) Kernel(ap, bp, ct, ldc, kc, wide);
                        else
                        {
                            // Partial tile: the kernel works on a copy of the m real rows of C (the padded rows of
                            // A are zero and their results are dropped), so there is one kernel for every shape.
                            for (int r = 0; r < m; r++) new Span<T>(ct + (long)r * ldc, nr).CopyTo(new Span<T>(edge + r * nr, nr));
                            Kernel(ap, bp, edge, nr, kc, wide);
                            for (int r = 0; r < m; r++) new Span<T>(edge + r * nr, nr).CopyTo(new Span<T>(ct + (long)r * ldc, nr));
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Rows from which the operands are packed. Below, packing B (every call copies its kc×cols block) costs more than
    /// it saves: measured on the recurrences (32 rows, B = the 1 MiB weights), the in-place tiles were faster, while
    /// the products over a sequence's steps or a shard's rows (64 and more) gain 10–65 % packed. Only the speed
    /// depends on it.
    /// </summary>
    private const int PackFrom = 64;

    /// <summary>
    /// Few rows (<see cref="PackFrom"/>): A and B read where they lie, with no packing; the tiles below. Same chains,
    /// same bits as the packed path.
    /// </summary>
    private static void RunInPlace(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int rows, int cols, int depth, bool wide)
    {
        for (int k0 = 0; k0 < depth; k0 += DepthBlock)
        {
            int kc = Math.Min(DepthBlock, depth - k0);
            Tiles(a + (long)k0 * aks, ars, aks, b + (long)k0 * ldb, ldb, 1, c, ldc, rows, cols, kc, wide);
        }
    }

    /// <summary>Values of B packed by <see cref="PackAllB"/>: depth × cols.</summary>
    public static long PackedBLength(int cols, int depth) => (long)cols * depth;

    /// <summary>
    /// B (depth × cols, row stride ldb; cols a multiple of Nr(wide)) laid out as the packed path packs it, every depth
    /// block at once (block k0 at dst + k0·cols, as cols/nr micro-panels of kc×nr), so that a product repeated with the
    /// same B (a recurrence's weights, step after step) packs it once: <see cref="RunPackedB"/>.
    /// </summary>
    public static void PackAllB(T* b, int ldb, int cols, int depth, bool wide, T* dst)
    {
        int nr = Nr(wide);
        nint* bRow = stackalloc nint[DepthBlock];
        for (int k0 = 0; k0 < depth; k0 += DepthBlock)
        {
            int kc = Math.Min(DepthBlock, depth - k0);
            for (int kk = 0; kk < kc; kk++) bRow[kk] = (nint)(b + (long)(k0 + kk) * ldb);
            PackB(bRow, cols, kc, nr, dst + (long)k0 * cols);
        }
    }

    /// <summary>
    /// C += A·B with B as <see cref="PackAllB"/> laid it out (the same cols, depth and wide), A read in place: the same
    /// tiles, chains and bits as <see cref="Run(T*, int, int, T*, int, T*, int, int, int, int, bool)"/>, without packing
    /// B on every call.
    /// </summary>
    public static void RunPackedB(T* a, int ars, int aks, T* packedB, T* c, int ldc, int rows, int cols, int depth, bool wide)
    {
        if (rows <= 0 || depth <= 0) return;
        for (int k0 = 0; k0 < depth; k0 += DepthBlock)
        {
            int kc = Math.Min(DepthBlock, depth - k0);
            // micro-panel n0/nr of the block: kc rows of nr, at n0·kc
            Tiles(a + (long)k0 * aks, ars, aks, packedB + (long)k0 * cols, Nr(wide), kc, c, ldc, rows, cols, kc, wide);
        }
    }

    /// <summary>
    /// One depth block (kc) of C += A·B by tiles, A in place. B's columns n0 .. n0+nr start at b + n0·panel (panel 1:
    /// B in place, row stride ldb; panel kc: packed micro-panels, ldb = nr).
    /// </summary>
    private static void Tiles(T* a, int ars, int aks, T* b, int ldb, int panel, T* c, int ldc, int rows, int cols, int kc, bool wide)
    {
        int nr = Nr(wide);
        for (int m0 = 0; m0 < rows; m0 += RowBlock)
        {
            int mEnd = Math.Min(rows, m0 + RowBlock);
            for (int n0 = 0; n0 < cols; n0 += nr)
            {
                T* bp = b + (long)n0 * panel;
                int m = m0;
                if (wide)
                {
                    for (; m + 8 <= mEnd; m += 8) Tile8x512(a + (long)m * ars, ars, aks, bp, ldb, c + (long)m * ldc + n0, ldc, kc);
                    if (m + 4 <= mEnd) { Tile4x512(a + (long)m * ars, ars, aks, bp, ldb, c + (long)m * ldc + n0, ldc, kc); m += 4; }
                    if (m + 2 <= mEnd) { Tile2x512(a + (long)m * ars, ars, aks, bp, ldb, c + (long)m * ldc + n0, ldc, kc); m += 2; }
                    if (m < mEnd) Tile1x512(a + (long)m * ars, aks, bp, ldb, c + (long)m * ldc + n0, kc);
                }
                else
                {
                    for (; m + 4 <= mEnd; m += 4) Tile4(a + (long)m * ars, ars, aks, bp, ldb, c + (long)m * ldc + n0, ldc, kc);
                    if (m + 2 <= mEnd) { Tile2(a + (long)m * ars, ars, aks, bp, ldb, c + (long)m * ldc + n0, ldc, kc); m += 2; }
                    if (m < mEnd) Tile1(a + (long)m * ars, aks, bp, ldb, c + (long)m * ldc + n0, kc);
                }
            }
        }
    }

    /// <summary>
    /// Asks for the C tile the next kernel call works on (rows × nr from c), so that its loads do not stall the
    /// start of that call: consecutive tiles lie ldc apart, a pattern the hardware prefetchers do not follow.
    /// Only the speed depends on it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(T* c, long ldc, int rows, int nr)
    {
        if (!Sse.IsSupported) return;
        int last = nr - 1;
        for (int r = 0; r < rows; r++, c += ldc)
            for (int j = 0; j <= last + 64 / Unsafe.SizeOf<T>(); j += 64 / Unsafe.SizeOf<T>())
                Sse.Prefetch0(c + Math.Min(j, last));
    }

    /// <summary>B's rows kk = 0 .. kc − 1 (row kk at bRow[kk]), columns 0..cols, into cols/nr contiguous kc×nr micro-panels.</summary>
    private static void PackB(nint* bRow, int cols, int kc, int nr, T* dst)
    {
        for (int n0 = 0; n0 < cols; n0 += nr)
        {
            T* d = dst + (long)n0 * kc;
            for (int kk = 0; kk < kc; kk++, d += nr) CopyRow((T*)bRow[kk] + n0, d, nr);
        }
    }

    /// <summary>
    /// n values (a multiple of Vector256's count, as every nr and a wide mr are) copied by vectors: a packing row is
    /// 32–128 bytes, short enough that a call to memmove per row cost more than the copy.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CopyRow(T* src, T* dst, int n)
    {
        for (int j = 0; j < n; j += Vector256<T>.Count) Vector256.Load(src + j).Store(dst + j);
    }

    /// <summary>
    /// Rows m0 .. m0 + mc of A (A(m, kk) at aRow[kk] + m·ars) over kk = 0 .. kc − 1 into ⌈mc/mr⌉ micro-panels of kc×mr
    /// (row i of a tile at offset i of each kk), zero-padded.
    /// </summary>
    private static void PackA(nint* aRow, long m0, int ars, int mc, int kc, int mr, T* dst)
    {
        for (int i0 = 0; i0 < mc; i0 += mr, dst += (long)kc * mr)
        {
            int m = Math.Min(mr, mc - i0);
            long first = m0 + (long)i0 * ars;
            if (ars == 1 && m == mr && mr % Vector256<T>.Count == 0)
            {
                // Aᵀ read in place (a weight gradient's Hᵀ): a tile's mr values of one kk lie side by side
                for (int kk = 0; kk < kc; kk++) CopyRow((T*)aRow[kk] + first, dst + (long)kk * mr, mr);
                continue;
            }
            // A row-major: kk by kk, so the writes run on and each row of A is read in order; float tiles of 8 rows by
            // 8×8 transposes where 8 consecutive kk lie side by side (within one segment)
            T* d = dst;
            int kk0 = 0;
            if (typeof(T) == typeof(float) && Avx.IsSupported && mr == 8 && m == 8)
                for (; kk0 + 8 <= kc && Contiguous8(aRow + kk0); kk0 += 8, d += 64)
                    Transpose8x8((float*)((T*)aRow[kk0] + first), ars, (float*)d);
            for (int kk = kk0; kk < kc; kk++, d += mr)
            {
                T* src = (T*)aRow[kk] + first;
                int i = 0;
                for (; i < m; i++) d[i] = src[(long)i * ars];
                for (; i < mr; i++) d[i] = T.Zero;
            }
        }
    }

    /// <summary>True when the 8 depth steps from <paramref name="row"/> lie side by side (each one float after the one before).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Contiguous8(nint* row)
    {
        for (int j = 1; j < 8; j++) if (row[j] - row[j - 1] != sizeof(float)) return false;
        return true;
    }

    /// <summary>dst[8·k + i] = src[i·ars + k] for i, k &lt; 8: the classic AVX 8×8 transpose (unpack, shuffle, permute). Values are only moved.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose8x8(float* src, long ars, float* dst)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + ars);
        var r2 = Avx.LoadVector256(src + 2 * ars); var r3 = Avx.LoadVector256(src + 3 * ars);
        var r4 = Avx.LoadVector256(src + 4 * ars); var r5 = Avx.LoadVector256(src + 5 * ars);
        var r6 = Avx.LoadVector256(src + 6 * ars); var r7 = Avx.LoadVector256(src + 7 * ars);
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(t0, t2, 0x44); var s1 = Avx.Shuffle(t0, t2, 0xEE);
        var s2 = Avx.Shuffle(t1, t3, 0x44); var s3 = Avx.Shuffle(t1, t3, 0xEE);
        var s4 = Avx.Shuffle(t4, t6, 0x44); var s5 = Avx.Shuffle(t4, t6, 0xEE);
        var s6 = Avx.Shuffle(t5, t7, 0x44); var s7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(s0, s4, 0x20)); Avx.Store(dst + 8, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(dst + 16, Avx.Permute2x128(s2, s6, 0x20)); Avx.Store(dst + 24, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(dst + 32, Avx.Permute2x128(s0, s4, 0x31)); Avx.Store(dst + 40, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(dst + 48, Avx.Permute2x128(s2, s6, 0x31)); Avx.Store(dst + 56, Avx.Permute2x128(s3, s7, 0x31));
    }

    /// <summary>
    /// One micro-tile from packed operands: the in-place tiles, reading packed A (kc×mr, A(i, kk) at kk·mr + i) with
    /// (ars, aks) = (1, mr) and a packed B micro-panel (kc×nr) with ldb = nr.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Kernel(T* ap, T* bp, T* c, int ldc, int kc, bool wide)
    {
        if (wide) Tile8x512(ap, 1, Mr(true), bp, Nr(true), c, ldc, kc); else Tile4(ap, 1, Mr(false), bp, Nr(false), c, ldc, kc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Fma(Vector512<T> x, Vector512<T> y, Vector512<T> acc)
    {
        if (typeof(T) == typeof(float))
            return Vector512.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector512.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> Fma(Vector256<T> x, Vector256<T> y, Vector256<T> acc)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), acc.AsSingle()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), acc.AsDouble()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile8x512(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int kc)
    {
        int v = Vector512<T>.Count;
        T* c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc, c4 = c3 + ldc, c5 = c4 + ldc, c6 = c5 + ldc, c7 = c6 + ldc;
        var c00 = Vector512.Load(c); var c01 = Vector512.Load(c + v);
        var c10 = Vector512.Load(c1); var c11 = Vector512.Load(c1 + v);
        var c20 = Vector512.Load(c2); var c21 = Vector512.Load(c2 + v);
        var c30 = Vector512.Load(c3); var c31 = Vector512.Load(c3 + v);
        var c40 = Vector512.Load(c4); var c41 = Vector512.Load(c4 + v);
        var c50 = Vector512.Load(c5); var c51 = Vector512.Load(c5 + v);
        var c60 = Vector512.Load(c6); var c61 = Vector512.Load(c6 + v);
        var c70 = Vector512.Load(c7); var c71 = Vector512.Load(c7 + v);
        for (int kk = 0; kk < kc; kk++)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + v);
            var x = Vector512.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[ars]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector512.Create(a[2 * ars]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector512.Create(a[3 * ars]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector512.Create(a[4 * ars]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector512.Create(a[5 * ars]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
            x = Vector512.Create(a[6 * ars]); c60 = Fma(x, b0, c60); c61 = Fma(x, b1, c61);
            x = Vector512.Create(a[7 * ars]); c70 = Fma(x, b0, c70); c71 = Fma(x, b1, c71);
            a += aks; b += ldb;
        }
        c00.Store(c); c01.Store(c + v); c10.Store(c1); c11.Store(c1 + v);
        c20.Store(c2); c21.Store(c2 + v); c30.Store(c3); c31.Store(c3 + v);
        c40.Store(c4); c41.Store(c4 + v); c50.Store(c5); c51.Store(c5 + v);
        c60.Store(c6); c61.Store(c6 + v); c70.Store(c7); c71.Store(c7 + v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4x512(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int kc)
    {
        int v = Vector512<T>.Count;
        T* c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        var c00 = Vector512.Load(c); var c01 = Vector512.Load(c + v);
        var c10 = Vector512.Load(c1); var c11 = Vector512.Load(c1 + v);
        var c20 = Vector512.Load(c2); var c21 = Vector512.Load(c2 + v);
        var c30 = Vector512.Load(c3); var c31 = Vector512.Load(c3 + v);
        for (int kk = 0; kk < kc; kk++)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + v);
            var x = Vector512.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[ars]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector512.Create(a[2 * ars]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector512.Create(a[3 * ars]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            a += aks; b += ldb;
        }
        c00.Store(c); c01.Store(c + v); c10.Store(c1); c11.Store(c1 + v);
        c20.Store(c2); c21.Store(c2 + v); c30.Store(c3); c31.Store(c3 + v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile2x512(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int kc)
    {
        int v = Vector512<T>.Count;
        T* c1 = c + ldc;
        var c00 = Vector512.Load(c); var c01 = Vector512.Load(c + v);
        var c10 = Vector512.Load(c1); var c11 = Vector512.Load(c1 + v);
        for (int kk = 0; kk < kc; kk++)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + v);
            var x = Vector512.Create(a[0]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector512.Create(a[ars]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            a += aks; b += ldb;
        }
        c00.Store(c); c01.Store(c + v); c10.Store(c1); c11.Store(c1 + v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1x512(T* a, int aks, T* b, int ldb, T* c, int kc)
    {
        int v = Vector512<T>.Count;
        var c00 = Vector512.Load(c); var c01 = Vector512.Load(c + v);
        for (int kk = 0; kk < kc; kk++)
        {
            var x = Vector512.Create(a[0]);
            c00 = Fma(x, Vector512.Load(b), c00); c01 = Fma(x, Vector512.Load(b + v), c01);
            a += aks; b += ldb;
        }
        c00.Store(c); c01.Store(c + v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile4(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int kc)
    {
        int v = Vector256<T>.Count;
        T* c1 = c + ldc, c2 = c1 + ldc, c3 = c2 + ldc;
        var c00 = Vector256.Load(c); var c01 = Vector256.Load(c + v); var c02 = Vector256.Load(c + 2 * v);
        var c10 = Vector256.Load(c1); var c11 = Vector256.Load(c1 + v); var c12 = Vector256.Load(c1 + 2 * v);
        var c20 = Vector256.Load(c2); var c21 = Vector256.Load(c2 + v); var c22 = Vector256.Load(c2 + 2 * v);
        var c30 = Vector256.Load(c3); var c31 = Vector256.Load(c3 + v); var c32 = Vector256.Load(c3 + 2 * v);
        for (int kk = 0; kk < kc; kk++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + v); var b2 = Vector256.Load(b + 2 * v);
            var x = Vector256.Create(a[0]);
            c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); c02 = Fma(x, b2, c02);
            x = Vector256.Create(a[ars]);
            c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); c12 = Fma(x, b2, c12);
            x = Vector256.Create(a[2 * ars]);
            c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21); c22 = Fma(x, b2, c22);
            x = Vector256.Create(a[3 * ars]);
            c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31); c32 = Fma(x, b2, c32);
            a += aks; b += ldb;
        }
        c00.Store(c); c01.Store(c + v); c02.Store(c + 2 * v);
        c10.Store(c1); c11.Store(c1 + v); c12.Store(c1 + 2 * v);
        c20.Store(c2); c21.Store(c2 + v); c22.Store(c2 + 2 * v);
        c30.Store(c3); c31.Store(c3 + v); c32.Store(c3 + 2 * v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile2(T* a, int ars, int aks, T* b, int ldb, T* c, int ldc, int kc)
    {
        int v = Vector256<T>.Count;
        T* c1 = c + ldc;
        var c00 = Vector256.Load(c); var c01 = Vector256.Load(c + v); var c02 = Vector256.Load(c + 2 * v);
        var c10 = Vector256.Load(c1); var c11 = Vector256.Load(c1 + v); var c12 = Vector256.Load(c1 + 2 * v);
        for (int kk = 0; kk < kc; kk++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + v); var b2 = Vector256.Load(b + 2 * v);
            var x = Vector256.Create(a[0]);
            c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01); c02 = Fma(x, b2, c02);
            x = Vector256.Create(a[ars]);
            c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11); c12 = Fma(x, b2, c12);
            a += aks; b += ldb;
        }
        c00.Store(c); c01.Store(c + v); c02.Store(c + 2 * v);
        c10.Store(c1); c11.Store(c1 + v); c12.Store(c1 + 2 * v);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile1(T* a, int aks, T* b, int ldb, T* c, int kc)
    {
        int v = Vector256<T>.Count;
        var c00 = Vector256.Load(c); var c01 = Vector256.Load(c + v); var c02 = Vector256.Load(c + 2 * v);
        for (int kk = 0; kk < kc; kk++)
        {
            var x = Vector256.Create(a[0]);
            c00 = Fma(x, Vector256.Load(b), c00); c01 = Fma(x, Vector256.Load(b + v), c01); c02 = Fma(x, Vector256.Load(b + 2 * v), c02);
            a += aks; b += ldb;
        }
        c00.Store(c); c01.Store(c + v); c02.Store(c + 2 * v);
    }
}
