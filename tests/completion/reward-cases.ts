/**
 * Tricky completions with the reward values worked out by hand from Python semantics (re.search, DOTALL,
 * `$` = end or before one final "\n", Unicode \d and \s, their IoU arithmetic). rewards.test.ts checks the
 * TypeScript rewards against `expect`; rewards-parity.test.ts also runs these texts through the Python oracle,
 * which checks the hand computations themselves.
 */
export interface RewardCase {
  name: string;
  text: string;
  gt: number[];
  format: 0 | 1;
  /** Accuracy reward; -0 where Python returns -0.0. */
  accuracy: number;
}

const GT = [120, 45, 560, 980];
const OK = '<think>The bus is in image 2.</think><answer>(120,45),(560,980)</answer>';

export const REWARD_CASES: RewardCase[] = [
  { name: 'canonical', text: OK, gt: GT, format: 1, accuracy: 1 },
  { name: 'one trailing newline ($ matches before it)', text: `${OK}\n`, gt: GT, format: 1, accuracy: 1 },
  { name: 'two trailing newlines', text: `${OK}\n\n`, gt: GT, format: 0, accuracy: 1 },
  { name: 'trailing space', text: `${OK} `, gt: GT, format: 0, accuracy: 1 },
  { name: 'trailing CRLF', text: `${OK}\r\n`, gt: GT, format: 0, accuracy: 1 },
  { name: 'text after </answer>', text: `${OK} Done.`, gt: GT, format: 0, accuracy: 1 },
  { name: 'text before <think> (search, not match)', text: `Sure! ${OK}`, gt: GT, format: 1, accuracy: 1 },
  {
    name: 'newlines and ideographic space between think and answer',
    text: '<think>a</think>\n\n\u3000<answer>(120,45),(560,980)</answer>',
    gt: GT, format: 1, accuracy: 1,
  },
  { name: 'U+001C counts as whitespace in Python', text: '<think>a</think>\x1c<answer>(120,45),(560,980)</answer>', gt: GT, format: 1, accuracy: 1 },
  { name: 'BOM is not Python whitespace', text: '<think>a</think>\ufeff<answer>(120,45),(560,980)</answer>', gt: GT, format: 0, accuracy: 1 },
  { name: 'spaces after commas', text: '<think>a</think><answer>(120, 45), (560, 980)</answer>', gt: GT, format: 1, accuracy: 1 },
  { name: 'space before a comma', text: '<think>a</think><answer>(120 ,45),(560,980)</answer>', gt: GT, format: 0, accuracy: 0 },
  { name: 'space inside the parenthesis', text: '<think>a</think><answer>( 120,45),(560,980)</answer>', gt: GT, format: 0, accuracy: 0 },
  { name: 'floats do not match', text: '<think>a</think><answer>(120.5,45),(560,980)</answer>', gt: GT, format: 0, accuracy: 0 },
  { name: 'negative numbers do not match', text: '<think>a</think><answer>(-120,45),(560,980)</answer>', gt: GT, format: 0, accuracy: 0 },
  {
    name: 'Arabic-Indic digits are \\d and int() reads them',
    text: '<think>a</think><answer>(\u0661\u0662\u0660,\u0664\u0665),(\u0665\u0666\u0660,\u0669\u0668\u0660)</answer>',
    gt: GT, format: 1, accuracy: 1,
  },
  { name: 'fullwidth digits', text: '<think>a</think><answer>(\uff11\uff12\uff10,45),(560,980)</answer>', gt: GT, format: 1, accuracy: 1 },
  {
    name: 'a digit newer than Unicode 14 (Kawi) is not \\d for CPython 3.11',
    text: '<think>a</think><answer>(\u{11f51}20,45),(560,980)</answer>',
    gt: GT, format: 0, accuracy: 0,
  },
  { name: 'empty', text: '', gt: GT, format: 0, accuracy: 0 },
  { name: 'box in think, none in answer', text: '<think>(120,45),(560,980)</think><answer>the bus</answer>', gt: GT, format: 0, accuracy: 0 },
  {
    // Accuracy reads the first answer block: (0,0),(10,10) has no overlap, 0/(100+411400).
    name: 'two answer blocks',
    text: '<think>a</think><answer>(0,0),(10,10)</answer><answer>(120,45),(560,980)</answer>',
    gt: GT, format: 0, accuracy: 0,
  },
  {
    name: 'nested think tags',
    text: '<think>a<think>b</think>c</think><answer>(120,45),(560,980)</answer>',
    gt: GT, format: 1, accuracy: 1,
  },
  {
    // The first <answer> is inside the think: accuracy scores (1,1),(5,5); format sees the last one.
    name: 'answer block inside the think',
    text: '<think>I will write <answer>(1,1),(5,5)</answer> later</think><answer>(120,45),(560,980)</answer>',
    gt: [1, 1, 5, 5], format: 1, accuracy: 1,
  },
  { name: 'unclosed think', text: '<think>abc<answer>(120,45),(560,980)</answer>', gt: GT, format: 0, accuracy: 1 },
  { name: 'no think at all', text: '<answer>(120,45),(560,980)</answer>', gt: GT, format: 0, accuracy: 1 },
  { name: 'upper-case tags', text: '<THINK>a</THINK><ANSWER>(120,45),(560,980)</ANSWER>', gt: GT, format: 0, accuracy: 0 },
  { name: 'unclosed answer', text: '<think>a</think><answer>(120,45),(560,980)', gt: GT, format: 0, accuracy: 0 },
  { name: 'box-start tokens left in the answer', text: '<think>a</think><answer><|box_start|>(120,45),(560,980)<|box_end|></answer>', gt: GT, format: 0, accuracy: 1 },
  // IoU arithmetic: intersection uses min(x2-1) ... +1 and a strict '<'.
  { name: '1-pixel overlap scores 0', text: '<think>a</think><answer>(0,0),(11,11)</answer>', gt: [10, 10, 20, 20], format: 1, accuracy: 0 },
  // inter (11-10+1)^2 = 4, union 144 + 100 - 4 = 240.
  { name: '2-pixel overlap', text: '<think>a</think><answer>(0,0),(12,12)</answer>', gt: [10, 10, 20, 20], format: 1, accuracy: 4 / 240 },
  // inter (559-130+1)*(979-45+1) = 430*935 = 402050; union 440*935 + 500*935 - 402050 = 476850.
  { name: 'partial overlap', text: '<think>a</think><answer>(120,45),(560,980)</answer>', gt: [130, 45, 630, 980], format: 1, accuracy: 402050 / 476850 },
  { name: 'zero union (ZeroDivisionError) scores 0', text: '<think>a</think><answer>(5,5),(5,5)</answer>', gt: [5, 5, 5, 5], format: 1, accuracy: 0 },
  // Areas -480*935 + 440*935 = -37400 and no intersection: float(0) / -37400 = -0.0.
  { name: 'inverted prediction gives -0.0', text: '<think>a</think><answer>(600,45),(120,980)</answer>', gt: GT, format: 1, accuracy: -0 },
  // Exact Python ints: inter 10*10, union 10**20*10 + 100 - 100.
  { name: 'integers beyond 2^53 stay exact', text: '<think>a</think><answer>(0,0),(100000000000000000000,10)</answer>', gt: [0, 0, 10, 10], format: 1, accuracy: 1e-19 },
  { name: 'float(union) overflows -> 0', text: `<think>a</think><answer>(0,0),(1${'0'.repeat(400)},10)</answer>`, gt: [0, 0, 10, 10], format: 1, accuracy: 0 },
  { name: '4301-digit int() raises -> 0', text: `<think>a</think><answer>(0,0),(${'0'.repeat(4291)}1000000000,10)</answer>`, gt: [0, 0, 10, 10], format: 1, accuracy: 0 },
  // 4300 digits: int() works, the value is 10; pred == gt.
  { name: '4300-digit int() works', text: `<think>a</think><answer>(0,0),(${'0'.repeat(4298)}10,10)</answer>`, gt: [0, 0, 10, 10], format: 1, accuracy: 1 },
  // Float ground truth: ix1 = 120.5, ix2 = 559, inter (559-120.5+1)*935 = 410932.5; union 411400 + 439.5*935 - 410932.5.
  { name: 'float ground truth', text: OK, gt: [120.5, 45, 560, 980], format: 1, accuracy: 410932.5 / (411400 + 439.5 * 935 - 410932.5) },
];
