"""The caption grammar's word lists: verb phrases per action, style words, subjects, places, body parts.

:mod:`humo.data.captions` composes captions from these. Entries marked ``!`` are **held out**: only test
clips' first caption uses them (with a held-out template and subject), so an evaluation on test captions
measures how unseen phrasings of a known action land on it.

Action table: ``action: third-person verb phrase | gerund phrase; ...`` (indented lines continue an
entry; ``-right`` actions are derived from ``-left`` ones by swapping sides). Actions done on the spot are
listed in :data:`STATIONARY`: their captions may add a place phrase ("in place", "on the spot").
"""

from __future__ import annotations

ACTION_TABLE = """
walk: walks forward|walking forward; walks ahead|walking ahead;
  walks straight forward|walking straight forward; strolls forward|strolling forward;
  takes steps forward|taking steps forward; !ambles ahead|ambling ahead; !moves forward on foot|moving forward on foot
run: runs forward|running forward; jogs ahead|jogging ahead; runs straight ahead|running straight ahead;
  !goes for a run|going for a run; !runs along|running along
dash: sprints forward|sprinting forward; dashes ahead|dashing ahead;
  runs forward at full speed|running forward at full speed; !races ahead as fast as possible|racing ahead as fast
  as possible
walk-back: walks backward|walking backward; walks backwards|walking backwards;
  steps back several times|stepping back several times; !moves backwards step by step|moving backwards step by step;
  !retreats a few steps|retreating a few steps
walk-left: walks to the left|walking to the left; walks toward the left|walking toward the left;
  moves to the left|moving to the left; !steps sideways to the left|stepping sideways to the left;
  !walks leftward|walking leftward
bow: bows|bowing; bows politely|bowing politely; bends forward in a bow|bending forward in a bow;
  !takes a bow|taking a bow; !bows down at the waist|bowing down at the waist
bye: waves goodbye|waving goodbye; waves a hand to say bye|waving a hand to say bye;
  says goodbye with a wave|saying goodbye with a wave; !waves farewell|waving farewell;
  !bids farewell with one hand|bidding farewell with one hand
byebye: waves goodbye again and again|waving goodbye again and again; waves bye bye|waving bye bye;
  keeps on waving goodbye|waving goodbye repeatedly; !waves farewell over and over|waving farewell over and over
guide: gestures to show the way|gesturing to show the way;
  guides someone with a hand gesture|guiding someone with a hand gesture;
  points the way with a hand|pointing the way with a hand; !shows someone where to go|showing someone where to go;
  !directs someone with an arm|directing someone with an arm
respond: responds with a gesture|responding with a gesture; reacts to someone|reacting to someone;
  answers someone with a gesture|answering someone with a gesture; !replies with a gesture|replying with a gesture
call: calls someone over|calling someone over; beckons someone to come|beckoning someone to come;
  calls out to someone|calling out to someone; !motions for someone to come closer|motioning for someone to come
  closer; !waves someone over|waving someone over
punch: punches|punching; throws punches|throwing punches; strikes with a fist|striking with a fist;
  !boxes with both fists|boxing with both fists; !jabs at the air|jabbing at the air
kick: kicks|kicking; kicks forward|kicking forward; delivers a kick|delivering a kick;
  !kicks out with a leg|kicking out with a leg; !does a kick|doing a kick
slash: slashes with a sword|slashing with a sword; swings a sword|swinging a sword;
  makes slashing motions|making slashing motions; !cuts through the air with a blade|cutting through the air with
  a blade; !fights with a sword|fighting with a sword
dance: dances|dancing; performs a dance|performing a dance; does a dance routine|doing a dance routine;
  !moves to music|moving to music; !dances around|dancing around
walk-turn-left: walks and turns left|walking and turning left;
  walks forward and then turns to the left|walking forward and then turning to the left;
  turns left while walking|turning left while walking; !walks and makes a left turn|walking and making a left turn
wave-both-hands: waves both hands|waving both hands; waves with both hands|waving with both hands;
  waves both arms|waving both arms; !waves both hands in the air|waving both hands in the air
wave-left-hand: waves the left hand|waving the left hand; waves with the left hand|waving with the left hand;
  raises the left hand and waves|raising the left hand and waving;
  !gives a wave with the left hand|giving a wave with the left hand
raise-up-both-hands: raises both hands|raising both hands; lifts both arms up|lifting both arms up;
  puts both hands up|putting both hands up; !holds both arms up high|holding both arms up high;
  !raises both arms above the head|raising both arms above the head
raise-up-left-hand: raises the left hand|raising the left hand; lifts the left arm up|lifting the left arm up;
  puts the left hand up|putting the left hand up; !raises the left arm above the head|raising the left arm above
  the head
put-down-right: puts something down on the floor with the right hand|putting something down on the floor with the
  right hand; places an object on the ground with the right hand|placing an object on the ground with the right
  hand; bends down and sets something on the floor|bending down and setting something on the floor;
  !lays an object down on the ground|laying an object down on the ground;
  !reaches down and drops something on the floor|reaching down and dropping something on the floor
elbow-to-knee: touches the left elbow to the right knee|touching the left elbow to the right knee;
  brings the left elbow down to the raised right knee|bringing the left elbow down to the raised right knee;
  lifts the right knee to meet the left elbow|lifting the right knee to meet the left elbow;
  !does a standing crunch, elbow to knee|doing a standing crunch, elbow to knee;
  !twists to tap the right knee with the left elbow|twisting to tap the right knee with the left elbow
reach-high-right: reaches up high with the right hand|reaching up high with the right hand;
  grabs something high above with the right hand|grabbing something high above with the right hand;
  stretches the right arm up to grab something|stretching the right arm up to grab something;
  !takes something from a high shelf|taking something from a high shelf;
  !reaches overhead for an object|reaching overhead for an object
hop: hops on both legs|hopping on both legs; jumps up with both feet|jumping up with both feet;
  does a small jump on both feet|doing a small jump on both feet; !bounces up off both feet|bouncing up off both
  feet; !does a two-footed hop|doing a two-footed hop
jog-circle-left: jogs in a circle to the left|jogging in a circle to the left;
  runs around in a counterclockwise circle|running around in a counterclockwise circle;
  jogs a few steps curving to the left|jogging a few steps curving to the left;
  !runs in a curve to the left|running in a curve to the left; !jogs around a circle leftward|jogging around a
  circle leftward
front-kick-left: kicks forward with the left leg|kicking forward with the left leg;
  does a front kick with the left foot|doing a front kick with the left foot;
  kicks the left leg out to the front|kicking the left leg out to the front;
  !kicks straight ahead with the left foot|kicking straight ahead with the left foot;
  !snaps a kick forward with the left leg|snapping a kick forward with the left leg
lie-down: lies down on the floor|lying down on the floor; gets down and lies on the ground|getting down and
  lying on the ground; lowers the body to lie flat on the floor|lowering the body to lie flat on the floor;
  !stretches out flat on the ground|stretching out flat on the ground; !lays down on the floor|laying down on the
  floor
arm-circles-backward: circles both arms backward|circling both arms backward;
  rotates both arms backwards|rotating both arms backwards;
  swings both arms around in backward circles|swinging both arms around in backward circles;
  !does backward arm circles|doing backward arm circles; !windmills both arms to the back|windmilling both arms to
  the back
sneak: sneaks forward|sneaking forward; tiptoes forward quietly|tiptoeing forward quietly;
  creeps ahead a few steps|creeping ahead a few steps; !sneaks ahead on tiptoe|sneaking ahead on tiptoe;
  !stalks forward carefully|stalking forward carefully
squat: squats down and stands back up|squatting down and standing back up; does a squat|doing a squat;
  bends the knees into a deep squat|bending the knees into a deep squat; !crouches down and rises again|crouching
  down and rising again; !does a deep knee bend|doing a deep knee bend
throw-basketball: throws a basketball|throwing a basketball; shoots a basketball with both hands|shooting a
  basketball with both hands; throws a ball overhead toward a hoop|throwing a ball overhead toward a hoop;
  !takes a shot at the basket|taking a shot at the basket; !tosses a ball into the hoop|tossing a ball into the
  hoop
jump: jumps|jumping; jumps up|jumping up; jumps and lands on both feet|jumping and landing on both feet;
  !leaps into the air|leaping into the air
basketball: dribbles a basketball|dribbling a basketball; plays basketball|playing basketball;
  bounces a basketball while moving|bouncing a basketball while moving; !handles a basketball|handling a
  basketball
playground: plays on a playground|playing on a playground; climbs on playground equipment|climbing on playground
  equipment; hops and climbs around|hopping and climbing around; !plays around on a jungle gym|playing around on
  a jungle gym
swordplay: fences with a sword|fencing with a sword; swings a sword around|swinging a sword around;
  practices swordplay|practicing swordplay; !spars with a sword|sparring with a sword
walk on uneven terrain: walks on uneven ground|walking on uneven ground; walks over rough terrain|walking over
  rough terrain; steps carefully over uneven ground|stepping carefully over uneven ground;
  !walks across bumpy ground|walking across bumpy ground
slow walk: walks slowly|walking slowly; walks forward slowly|walking forward slowly; strolls slowly|strolling
  slowly; !takes a slow walk|taking a slow walk
brisk walk: walks briskly|walking briskly; walks quickly forward|walking quickly forward; walks at a fast
  pace|walking at a fast pace; !hurries along on foot|hurrying along on foot
bend over: bends over|bending over; bends down|bending down; bends over to pick something up|bending over to pick
  something up; !stoops down|stooping down
wash self: washes themselves|washing themselves; scrubs the body|scrubbing the body; showers|showering;
  !rinses off|rinsing off
"""

# actions done on the spot: captions may add a place phrase
STATIONARY = frozenset("""bow bye byebye guide respond call punch kick slash dance wave-both-hands wave-left-hand
raise-up-both-hands raise-up-left-hand put-down-right elbow-to-knee reach-high-right hop front-kick-left
arm-circles-backward squat throw-basketball jump swordplay""".split())

PLACES = ["in place", "on the spot"]
HELD_OUT_PLACES = ["without moving from the spot", "in one spot"]

SUBJECTS = ["a person", "someone", "a man", "a woman", "the person", "a human"]
HELD_OUT_SUBJECTS = ["somebody", "a guy", "an individual", "the woman", "a lady"]

# style: adverbs (before the verb) / manner phrases (after it) / subjects; "-" = no style words
STYLE_TABLE = """
normal: -, normally, casually / -, in a normal way, in a relaxed manner / a person, someone, a man
happy: happily, cheerfully, joyfully / in a happy way, in a cheerful manner, with joy /
  a happy person, a cheerful person, someone happy
sad: sadly, gloomily, sorrowfully / in a sad way, in a gloomy manner, with sadness /
  a sad person, an unhappy person, someone sad
angry: angrily, furiously, irritably / in an angry way, in a furious manner, with anger /
  an angry person, a furious person, someone angry
proud: proudly, confidently, arrogantly / in a proud way, with pride, in a confident manner /
  a proud person, a confident person, someone proud
not-confident: timidly, shyly, nervously / in an unconfident way, without confidence, in a timid manner /
  a timid person, a shy person, an insecure person
masculine: manfully, boldly, sturdily / in a masculine way, in a manly manner, like a tough man /
  a masculine person, a manly person, a macho man
feminine: gracefully, elegantly, daintily / in a feminine way, in a feminine manner, like a graceful woman /
  a feminine person, a graceful woman, an elegant person
childish: childishly, playfully, boyishly / like a child, in a childish way, in a childlike manner /
  a child, a childish person, a playful kid
youthful: youthfully, spryly, buoyantly / in a youthful way, like a young person, with youthful energy /
  a young person, a youthful person, a teenager
elderly: stiffly, feebly, frailly / like an old person, in an elderly way, like an elderly man /
  an old person, an elderly person, an old man
tired: tiredly, wearily, sluggishly / in a tired way, in an exhausted way, with fatigue /
  a tired person, an exhausted person, a weary person
exhausted: wearily, tiredly, exhaustedly / in an exhausted way, as if exhausted, with great fatigue /
  an exhausted person, a drained person, a weary person
active: energetically, actively, vigorously / in an active way, with lots of energy, in an energetic manner /
  an energetic person, an active person, a lively person
musical: rhythmically, theatrically, musically / like in a musical, in a musical style,
  with theatrical flair / a musical performer, a stage performer, a theatrical person
giant: heavily, ponderously, lumberingly / like a giant, like a huge heavy giant, with heavy giant steps /
  a giant, a huge person, a hulking giant
chimpira: cockily, swaggeringly, menacingly / like a thug, like a street punk, with a swagger /
  a thug, a street punk, a delinquent
"""

# body-part words: a train caption may say either (the first is the table's own word)
BODY_PARTS = {"the left hand": ["the left hand", "the left arm"], "the right hand": ["the right hand",
                                                                                      "the right arm"],
              "both hands": ["both hands", "both arms"], "the left leg": ["the left leg", "the left foot"],
              "the right leg": ["the right leg", "the right foot"]}

TRAIN_TEMPLATES = ("{subj} {vp}{where}.", "a person {vp} {manner}{where}.", "someone {adv} {vp}{where}.",
                   "{subj} is {ving}{where}.", "{subj} {vp} {adv}{where}.", "a person is {ving} {manner}.")
# held out: only the first caption of test clips uses them
TEST_TEMPLATES = ("{manner}, someone {vp}{where}.", "a person {ving} {adv}{where}.",
                  "{subj} can be seen {ving}{where}.", "here {subj} {vp} {adv}{where}.")
